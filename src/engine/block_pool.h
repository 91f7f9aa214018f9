// Fixed pool of KV blocks with reference counts: sequences that share a prompt prefix
// share its blocks. Ask first (can_fit), then act (allocate / retain / release).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace tandem {

using BlockId = int32_t;

class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  int32_t n_blocks() const { return static_cast<int32_t>(refs_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  bool can_fit(int32_t n) const { return n <= n_free(); }

  std::optional<BlockId> allocate();  // nullopt when empty; the caller preempts or fails
  void retain(BlockId b);             // one more sequence shares b
  void release(BlockId b);            // back to the free list when the last user lets go
  int32_t ref_count(BlockId b) const;

 private:
  std::vector<int32_t> refs_;   // [n_blocks]
  std::vector<BlockId> free_;   // stack; allocation order is deliberately not sequential
};

}  // namespace tandem
