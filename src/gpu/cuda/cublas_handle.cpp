#include "gpu/cuda/cublas_handle.h"

#include <string>

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<CublasHandle> CublasHandle::create() {
  cublasHandle_t h = nullptr;
  if (cublasStatus_t s = cublasCreate(&h); s != CUBLAS_STATUS_SUCCESS) return cublas_error(s, "cublasCreate");
  return CublasHandle(h);
}

CublasHandle& CublasHandle::operator=(CublasHandle&& o) noexcept {
  if (this != &o) {
    if (h_) cublasDestroy(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}

CublasHandle::~CublasHandle() {
  if (h_) cublasDestroy(h_);
}

Status CublasHandle::set_stream(cudaStream_t s) {
  if (cublasStatus_t st = cublasSetStream(h_, s); st != CUBLAS_STATUS_SUCCESS)
    return cublas_error(st, "cublasSetStream");
  return Status::ok();
}

Status CublasHandle::set_workspace(void* device_ptr, uint64_t bytes) {
  if (cublasStatus_t st = cublasSetWorkspace(h_, device_ptr, bytes); st != CUBLAS_STATUS_SUCCESS)
    return cublas_error(st, "cublasSetWorkspace", std::to_string(bytes) + " bytes");
  return Status::ok();
}

}  // namespace tandem::gpu
