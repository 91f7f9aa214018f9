#include "engine/kv_cache.h"

#include <unistd.h>

#include <cstring>

#include "core/check.h"
#include "core/quant_blocks.h"

namespace tandem {

Result<KvCache> KvCache::create(const KvCacheConfig& c) {
  if (c.n_layers < 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 || c.block_tokens <= 0 || c.n_blocks <= 0)
    return Error(Code::kInvalidArgument) << "KV cache: layers " << c.n_layers << ", KV heads "
                                         << c.n_kv_heads << ", head dim " << c.head_dim
                                         << ", block tokens " << c.block_tokens << ", blocks "
                                         << c.n_blocks << " must all be positive (layers may be 0)";
  if (c.type != DType::kF32 && c.type != DType::kF16 && c.type != DType::kBF16 && c.type != DType::kQ8_0)
    return Error(Code::kUnsupported) << "KV cache type " << dtype_name(c.type)
                                     << " is not supported (f32, f16, bf16, q8_0)";
  if (!cpu::kv_type_ok(c.type, c.head_dim))
    return Error(Code::kUnsupported) << "KV cache type " << dtype_name(c.type) << " needs head_dim to be a multiple of "
                                     << kQK << ", this model has head_dim " << c.head_dim
                                     << " (f16, bf16 and f32 take any head_dim)";
  const double bytes = 2.0 * c.n_layers * c.n_blocks * c.n_kv_heads * c.block_tokens *
                       static_cast<double>(cpu::kv_row_bytes(c.type, c.head_dim));
  const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (bytes > ram)
    return Error(Code::kOutOfMemory) << "the KV cache needs " << bytes / 1e9 << " GB (" << c.n_blocks << " blocks of "
                                     << c.block_tokens << " tokens, " << c.n_layers << " layers, "
                                     << dtype_name(c.type) << ") but this machine has " << ram / 1e9
                                     << " GB: use a smaller context (-c) or KV type";
  return KvCache(c);
}

KvCache::KvCache(const KvCacheConfig& c)
    : cfg_(c), row_bytes_(static_cast<size_t>(cpu::kv_row_bytes(c.type, c.head_dim))), pool_(c.n_blocks) {
  storage_bytes_ = block_bytes() * static_cast<size_t>(c.n_blocks) * 2 * static_cast<size_t>(c.n_layers);
  storage_.reset(new std::byte[storage_bytes_]);  // default-initialized: no memset
}

size_t KvCache::block_bytes() const {
  return static_cast<size_t>(cfg_.n_kv_heads) * static_cast<size_t>(cfg_.block_tokens) * row_bytes_;
}

std::byte* KvCache::k_pool(int32_t layer) {
  return storage_.get() + block_bytes() * static_cast<size_t>(cfg_.n_blocks) * 2 * static_cast<size_t>(layer);
}
std::byte* KvCache::v_pool(int32_t layer) {
  return k_pool(layer) + block_bytes() * static_cast<size_t>(cfg_.n_blocks);
}

cpu::PagedKv KvCache::layer_view(int32_t layer) const {
  auto* self = const_cast<KvCache*>(this);
  return cpu::PagedKv{self->k_pool(layer), self->v_pool(layer), cfg_.type, cfg_.n_kv_heads,
                      cfg_.head_dim, cfg_.block_tokens};
}

void KvCache::copy_block(BlockId from, BlockId to) {
  const size_t bb = block_bytes();
  for (int32_t l = 0; l < cfg_.n_layers; ++l) {
    std::memcpy(k_pool(l) + bb * static_cast<size_t>(to), k_pool(l) + bb * static_cast<size_t>(from), bb);
    std::memcpy(v_pool(l) + bb * static_cast<size_t>(to), v_pool(l) + bb * static_cast<size_t>(from), bb);
  }
}

Status KvCache::reserve(SeqKv& seq, int32_t n_new, std::vector<KvBlockCopy>* copies) {
  const int32_t bt = cfg_.block_tokens;
  const int64_t total = static_cast<int64_t>(seq.n_tokens) + n_new;
  const int64_t need_blocks = (total + bt - 1) / bt;
  const int64_t add = need_blocks - static_cast<int64_t>(seq.table.size());
  // A shared, partly filled last block is written next: it needs a private copy.
  const bool cow = seq.n_tokens % bt != 0 && n_new > 0 && pool_.ref_count(seq.table.back()) > 1;
  const int64_t want = (add > 0 ? add : 0) + (cow ? 1 : 0);
  if (want > pool_.n_free())
    return Error(Code::kOutOfRange) << "KV cache full: " << n_new << " more tokens need " << want
                                    << " blocks, " << pool_.n_free() << " of " << cfg_.n_blocks
                                    << " are free (" << capacity_tokens() << " tokens in all)";
  if (cow) {
    const BlockId copy = *pool_.allocate();
    copy_block(seq.table.back(), copy);
    if (copies != nullptr) copies->push_back({seq.table.back(), copy});
    pool_.release(seq.table.back());
    seq.table.back() = copy;
  }
  for (int64_t i = 0; i < add; ++i) seq.table.push_back(*pool_.allocate());
  seq.n_tokens = static_cast<int32_t>(total);
  return Status::ok();
}

void KvCache::write(int32_t layer, const SeqKv& seq, int32_t pos, const float* k, const float* v) {
  TANDEM_CHECK(pos >= 0 && pos < seq.n_tokens) << "position " << pos << " of " << seq.n_tokens;
  const int32_t bt = cfg_.block_tokens;
  const BlockId b = seq.table[static_cast<size_t>(pos / bt)];
  TANDEM_CHECK(pool_.ref_count(b) == 1) << "write into shared block " << b;
  for (int32_t h = 0; h < cfg_.n_kv_heads; ++h) {
    const int64_t row = (static_cast<int64_t>(b) * cfg_.n_kv_heads + h) * bt + pos % bt;
    cpu::store_kv_row(k_pool(layer), cfg_.type, row, cfg_.head_dim, k + static_cast<int64_t>(h) * cfg_.head_dim);
    cpu::store_kv_row(v_pool(layer), cfg_.type, row, cfg_.head_dim, v + static_cast<int64_t>(h) * cfg_.head_dim);
  }
}

void KvCache::fork(const SeqKv& src, SeqKv& dst) {
  if (&src == &dst) return;
  clear(dst);
  for (BlockId b : src.table) pool_.retain(b);
  dst = src;
}

void KvCache::truncate(SeqKv& seq, int32_t n_keep) {
  TANDEM_CHECK(n_keep >= 0 && n_keep <= seq.n_tokens) << n_keep << " of " << seq.n_tokens;
  const size_t keep_blocks = static_cast<size_t>((n_keep + cfg_.block_tokens - 1) / cfg_.block_tokens);
  while (seq.table.size() > keep_blocks) {
    pool_.release(seq.table.back());
    seq.table.pop_back();
  }
  seq.n_tokens = n_keep;
}

}  // namespace tandem
