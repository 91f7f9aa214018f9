// A "device" whose memory is host memory: the allocator of the emulated GPU
// (engine/emulated_gpu.h). Budgeted like every Allocator, so a plan that is allocated
// through it is held to its sizes exactly; its pointers, unlike a fake device's, can be
// read and written on the host. Allocations are 256-byte aligned, as cudaMalloc's.
#pragma once

#include <cstdint>
#include <string>

#include "gpu/allocator.h"

namespace tandem::gpu {

class HostMemoryAllocator final : public Allocator {
 public:
  explicit HostMemoryAllocator(uint64_t budget, std::string name = "emulated GPU")
      : Allocator(budget, std::move(name)) {}
  ~HostMemoryAllocator() override = default;

 protected:
  // kOutOfMemory naming the request when the host cannot give it.
  Result<void*> device_alloc(uint64_t bytes, std::string_view what) override;
  void device_free(void* p, uint64_t bytes) override;
};

}  // namespace tandem::gpu
