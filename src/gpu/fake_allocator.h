// A device that exists only as numbers: `capacity` bytes of address space at a made-up
// base address, allocated first fit. It lets tests and the planner check budgets,
// high-water marks, fragmentation and device out-of-memory (apart from the budget)
// with no GPU. Its pointers must never be dereferenced.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gpu/allocator.h"

namespace tandem::gpu {

class FakeDeviceAllocator final : public Allocator {
 public:
  struct Block {
    uint64_t offset = 0;  // from the fake base
    uint64_t bytes = 0;   // charged (aligned) size
    std::string what;
  };

  FakeDeviceAllocator(uint64_t capacity, uint64_t budget, std::string name = "fake GPU");

  uint64_t capacity() const { return capacity_; }
  std::vector<Block> blocks() const;  // live allocations by address

 protected:
  Result<void*> device_alloc(uint64_t bytes, std::string_view what) override;
  void device_free(void* p, uint64_t bytes) override;

 private:
  static constexpr uint64_t kBase = uint64_t{1} << 44;  // a 256-aligned, non-null address
  const uint64_t capacity_;
  std::map<uint64_t, Block> blocks_;  // offset -> block; guarded by Allocator's lock
};

}  // namespace tandem::gpu
