#include "engine/block_pool.h"

#include "core/check.h"

namespace tandem {

BlockPool::BlockPool(int32_t n_blocks) : refs_(static_cast<size_t>(n_blocks), 0) {
  TANDEM_CHECK(n_blocks >= 0) << n_blocks;
  free_.reserve(static_cast<size_t>(n_blocks));
  for (BlockId b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // pops 0, 1, 2, ...
}

std::optional<BlockId> BlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  const BlockId b = free_.back();
  free_.pop_back();
  TANDEM_CHECK(refs_[static_cast<size_t>(b)] == 0) << "free block " << b << " is in use";
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::retain(BlockId b) {
  TANDEM_CHECK(b >= 0 && b < n_blocks()) << "block " << b;
  TANDEM_CHECK(refs_[static_cast<size_t>(b)] > 0) << "retain of free block " << b;
  ++refs_[static_cast<size_t>(b)];
}

void BlockPool::release(BlockId b) {
  TANDEM_CHECK(b >= 0 && b < n_blocks()) << "block " << b;
  TANDEM_CHECK(refs_[static_cast<size_t>(b)] > 0) << "release of free block " << b;
  if (--refs_[static_cast<size_t>(b)] == 0) free_.push_back(b);
}

int32_t BlockPool::ref_count(BlockId b) const {
  TANDEM_CHECK(b >= 0 && b < n_blocks()) << "block " << b;
  return refs_[static_cast<size_t>(b)];
}

}  // namespace tandem
