#include "engine/kv_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace tandem {
namespace {

KvCacheConfig small_config(int32_t n_blocks) {
  KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.block_tokens = 4;
  c.n_blocks = n_blocks;
  c.type = DType::kF32;
  return c;
}

std::vector<float> row_of(float base) {
  std::vector<float> r(8);
  for (size_t i = 0; i < r.size(); ++i) r[i] = base + float(i) * 0.01f;
  return r;
}

float read_k(const KvCache& kv, int layer, const SeqKv& s, int pos, int head, int i) {
  const auto v = kv.layer_view(layer);
  const int64_t row = (int64_t(s.table[size_t(pos / 4)]) * 2 + head) * 4 + pos % 4;
  return static_cast<const float*>(v.k)[row * 4 + i];
}

TEST(BlockPool, RefCountsAndReuse) {
  BlockPool p(3);
  auto a = p.allocate(), b = p.allocate(), c = p.allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(p.allocate().has_value());
  p.retain(*b);
  p.release(*b);
  EXPECT_EQ(p.n_free(), 0);
  p.release(*b);
  EXPECT_EQ(p.n_free(), 1);
  EXPECT_EQ(p.allocate(), b);
}

TEST(KvCache, ReserveWriteAndFullError) {
  auto kv = KvCache::create(small_config(3));
  ASSERT_TRUE(kv);
  SeqKv s;
  ASSERT_TRUE(kv->reserve(s, 9).is_ok());
  EXPECT_EQ(s.table.size(), 3u);
  for (int pos = 0; pos < 9; ++pos) {
    auto k = row_of(float(pos)), v = row_of(-float(pos));
    kv->write(1, s, pos, k.data(), v.data());
  }
  EXPECT_FLOAT_EQ(read_k(*kv, 1, s, 6, 1, 2), 6.06f);
  Status full = kv->reserve(s, 4);
  ASSERT_FALSE(full.is_ok());
  EXPECT_EQ(full.error().code(), Code::kOutOfRange);
  EXPECT_EQ(s.n_tokens, 9);  // unchanged on failure
}

TEST(KvCache, ForkSharesPrefixAndCopiesOnWrite) {
  auto kv = KvCache::create(small_config(8));
  ASSERT_TRUE(kv);
  SeqKv a, b;
  ASSERT_TRUE(kv->reserve(a, 6).is_ok());  // one full block, one half block
  for (int pos = 0; pos < 6; ++pos) {
    auto k = row_of(float(pos)), v = row_of(0);
    kv->write(0, a, pos, k.data(), v.data());
  }
  kv->fork(a, b);
  EXPECT_EQ(kv->pool().ref_count(a.table[0]), 2);
  EXPECT_EQ(kv->pool().ref_count(a.table[1]), 2);
  ASSERT_TRUE(kv->reserve(b, 1).is_ok());  // b writes into the shared half block: copied
  EXPECT_EQ(b.table[0], a.table[0]);
  EXPECT_NE(b.table[1], a.table[1]);
  EXPECT_EQ(kv->pool().ref_count(a.table[1]), 1);
  auto k = row_of(100), v = row_of(0);
  kv->write(0, b, 6, k.data(), v.data());
  EXPECT_FLOAT_EQ(read_k(*kv, 0, b, 5, 0, 0), 5.f);  // copied content
  EXPECT_FLOAT_EQ(read_k(*kv, 0, b, 6, 0, 0), 100.f);
  kv->clear(a);
  EXPECT_EQ(kv->pool().ref_count(b.table[0]), 1);
  kv->clear(b);
  EXPECT_EQ(kv->pool().n_free(), 8);
}

TEST(KvCache, RejectsBadConfig) {
  auto c = small_config(0);
  EXPECT_FALSE(KvCache::create(c));
  c = small_config(4);
  c.type = DType::kQ4_0;
  EXPECT_EQ(KvCache::create(c).error().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace tandem
