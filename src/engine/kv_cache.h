// Paged KV cache in host memory: per layer, a K pool and a V pool of blocks,
//   [n_blocks, n_kv_heads, block_tokens, head_dim] of `type` (f32, f16, bf16 or q8_0;
// a q8_0 row is head_dim / 32 BlockQ8_0 blocks, quantized as written),
// and per sequence a block table. Blocks are shared between sequences by reference
// count (fork), with copy-on-write of a shared partial last block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "cpu/ops_ref.h"
#include "engine/block_pool.h"

namespace tandem {

struct KvCacheConfig {
  int32_t n_layers = 0;       // 0: block tables only (every layer's KV is on a device)
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_tokens = 16;
  int32_t n_blocks = 0;
  DType type = DType::kF16;   // f32, f16, bf16, or q8_0 (head_dim a multiple of 32)
};

// A block copied on write (reserve): the caller repeats it where other layers' KV lives.
struct KvBlockCopy {
  BlockId from;
  BlockId to;
};

// A sequence's view of the cache.
struct SeqKv {
  std::vector<BlockId> table;  // [ceil(n_tokens / block_tokens)], logical order
  int32_t n_tokens = 0;        // tokens written so far
};

class KvCache {
 public:
  static Result<KvCache> create(const KvCacheConfig& c);

  const KvCacheConfig& config() const { return cfg_; }
  const BlockPool& pool() const { return pool_; }
  int64_t capacity_tokens() const { return int64_t{cfg_.n_blocks} * cfg_.block_tokens; }
  size_t bytes() const { return storage_bytes_; }
  // Bytes of one K (or V) row: one KV head's head_dim values of one token.
  size_t row_bytes() const { return row_bytes_; }

  // Makes room for `n_new` more tokens of `seq` (allocating blocks, and copying a shared
  // last block before it is written). kOutOfRange when the pool cannot hold them; then
  // nothing changes. A block copied on write is appended to `copies` (when given).
  Status reserve(SeqKv& seq, int32_t n_new, std::vector<KvBlockCopy>* copies = nullptr);
  // Writes K and V rows ([n_kv_heads * head_dim] each) of token `pos` (< reserved size).
  void write(int32_t layer, const SeqKv& seq, int32_t pos, const float* k, const float* v);
  // Makes `dst` share all of `src`'s tokens (blocks retained, not copied).
  void fork(const SeqKv& src, SeqKv& dst);
  // Drops tokens at and after `n_keep`; releases blocks no longer needed.
  void truncate(SeqKv& seq, int32_t n_keep);
  void clear(SeqKv& seq) { truncate(seq, 0); }

  cpu::PagedKv layer_view(int32_t layer) const;

 private:
  explicit KvCache(const KvCacheConfig& c);
  size_t block_bytes() const;  // one block of K (or V) of one layer
  std::byte* k_pool(int32_t layer);
  std::byte* v_pool(int32_t layer);
  void copy_block(BlockId from, BlockId to);

  KvCacheConfig cfg_;
  size_t row_bytes_ = 0;  // cpu::kv_row_bytes(cfg_.type, cfg_.head_dim)
  BlockPool pool_;
  // [n_layers][K pool, V pool]. Not zeroed: pages are touched only as tokens are
  // written, so a large context costs no start-up time, and unwritten rows are never read.
  std::unique_ptr<std::byte[]> storage_;
  size_t storage_bytes_ = 0;
};

}  // namespace tandem
