#include "gpu/fake_allocator.h"

#include <algorithm>

#include "core/check.h"
#include "gpu/byte_size.h"

namespace tandem::gpu {

FakeDeviceAllocator::FakeDeviceAllocator(uint64_t capacity, uint64_t budget, std::string name)
    : Allocator(budget, std::move(name)), capacity_(capacity) {}

std::vector<FakeDeviceAllocator::Block> FakeDeviceAllocator::blocks() const {
  std::vector<Block> v;
  for (const auto& [off, b] : blocks_) v.push_back(b);
  return v;
}

Result<void*> FakeDeviceAllocator::device_alloc(uint64_t bytes, std::string_view what) {
  uint64_t at = 0;        // start of the gap being looked at
  uint64_t largest = 0;   // largest gap seen, for the error
  for (const auto& [off, b] : blocks_) {
    if (off - at >= bytes) break;
    largest = std::max(largest, off - at);
    at = off + b.bytes;
  }
  if (at > capacity_ || capacity_ - at < bytes) {
    if (at <= capacity_) largest = std::max(largest, capacity_ - at);
    return Error(Code::kOutOfMemory) << name() << ": device out of memory: " << what << " needs "
                                     << format_bytes(bytes) << " (" << bytes << " bytes), the largest free range is "
                                     << format_bytes(largest) << " of " << format_bytes(capacity_);
  }
  blocks_.emplace(at, Block{at, bytes, std::string(what)});
  return reinterpret_cast<void*>(kBase + at);
}

void FakeDeviceAllocator::device_free(void* p, uint64_t bytes) {
  const uint64_t off = reinterpret_cast<uint64_t>(p) - kBase;
  auto it = blocks_.find(off);
  TANDEM_CHECK(it != blocks_.end() && it->second.bytes == bytes)
      << name() << ": free of an unknown block at offset " << off;
  blocks_.erase(it);
}

}  // namespace tandem::gpu
