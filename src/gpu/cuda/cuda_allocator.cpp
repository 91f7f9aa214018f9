#include "gpu/cuda/cuda_allocator.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "gpu/byte_size.h"
#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

CudaAllocator::CudaAllocator(int32_t device, uint64_t budget, std::string name)
    : Allocator(budget, std::move(name)), device_(device) {}

Result<void*> CudaAllocator::device_alloc(uint64_t bytes, std::string_view what) {
  TANDEM_TRY(cuda_status(cudaSetDevice(device_), "cudaSetDevice", std::to_string(device_)));
  void* p = nullptr;
  if (cudaError_t e = cudaMalloc(&p, bytes); e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();  // an allocation failure is not sticky; clear it before asking more
    const bool known = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
    std::string detail = std::to_string(bytes) + " bytes for " + std::string(what) + " on " + name();
    if (known) detail += "; device has " + format_bytes(free_b) + " free of " + format_bytes(total_b);
    return cuda_error(e, "cudaMalloc", detail);
  }
  return p;
}

void CudaAllocator::device_free(void* p, uint64_t bytes) {
  // Nothing to return an error to (a destructor calls this). A failure here means
  // the context is already broken, and the next checked call reports it.
  if (cudaError_t e = cudaFree(p); e != cudaSuccess)
    std::fprintf(stderr, "tandem: warning: cudaFree of %llu bytes on %s failed: %s\n",
                 static_cast<unsigned long long>(bytes), name().c_str(), cudaGetErrorString(e));
}

}  // namespace tandem::gpu
