#include "gpu/host_allocator.h"

#include <cstdlib>

#include "gpu/byte_size.h"

namespace tandem::gpu {

Result<void*> HostMemoryAllocator::device_alloc(uint64_t bytes, std::string_view what) {
  // bytes is already a multiple of kAllocAlignment (Allocator::allocate rounds it).
  void* p = std::aligned_alloc(kAllocAlignment, static_cast<size_t>(bytes));
  if (p == nullptr)
    return Error(Code::kOutOfMemory) << name() << ": host memory exhausted: " << what << " needs "
                                     << format_bytes(bytes) << " (" << bytes << " bytes)";
  return p;
}

void HostMemoryAllocator::device_free(void* p, uint64_t) { std::free(p); }

}  // namespace tandem::gpu
