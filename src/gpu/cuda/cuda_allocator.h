// The budgeted allocator over a CUDA device's memory (cudaMalloc / cudaFree): the
// Allocator's budget (--gpu-mem) on top, the device's own out-of-memory below.
#pragma once

#include <cstdint>
#include <string>

#include "gpu/allocator.h"

namespace tandem::gpu {

class CudaAllocator final : public Allocator {
 public:
  // `device`: the CUDA ordinal, made current before each call; `name` for errors.
  CudaAllocator(int32_t device, uint64_t budget, std::string name);

 protected:
  Result<void*> device_alloc(uint64_t bytes, std::string_view what) override;
  void device_free(void* p, uint64_t bytes) override;

 private:
  const int32_t device_;
};

}  // namespace tandem::gpu
