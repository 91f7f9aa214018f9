// An owned cuBLAS handle, bound to one stream and one workspace at a time. Move-only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "core/status.h"
#include "gpu/reserves.h"  // kCublasWorkspaceBytes: the workspace the memory plan reserves

namespace tandem::gpu {

class CublasHandle {
 public:
  static Result<CublasHandle> create();

  CublasHandle() = default;
  CublasHandle(CublasHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& o) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle();

  cublasHandle_t get() const { return h_; }  // borrowed
  Status set_stream(cudaStream_t s);
  // Device memory cuBLAS may use as scratch (from the budgeted allocator); it must
  // outlive the handle's use of it.
  Status set_workspace(void* device_ptr, uint64_t bytes);

 private:
  explicit CublasHandle(cublasHandle_t h) : h_(h) {}
  cublasHandle_t h_ = nullptr;
};

}  // namespace tandem::gpu
