#include "engine/kv_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/quant_blocks.h"
#include "cpu/quant_ref.h"

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

// q8_0: rows of head_dim 64 are two BlockQ8_0 blocks.
KvCacheConfig q8_config(int32_t n_blocks) {
  KvCacheConfig c = small_config(n_blocks);
  c.head_dim = 64;
  c.type = DType::kQ8_0;
  return c;
}

std::vector<float> random_row(int32_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-3.f, 3.f);
  std::vector<float> r(static_cast<size_t>(n));
  for (float& x : r) x = u(rng);
  return r;
}

// dequantize(quantize(x)) with the reference quantizer: what a q8_0 cache must hold.
std::vector<float> q8_round_trip(const std::vector<float>& x) {
  std::vector<std::byte> q(cpu::quantized_row_bytes(DType::kQ8_0, static_cast<int64_t>(x.size())));
  cpu::quantize_row_ref(DType::kQ8_0, x.data(), q.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  cpu::dequantize_row_ref(DType::kQ8_0, q.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

// K (or V) row of token `pos`, KV head `head`, as f32.
std::vector<float> read_row(const KvCache& kv, bool k, int layer, const SeqKv& s, int pos, int head) {
  const auto v = kv.layer_view(layer);
  const int32_t bt = v.block_tokens;
  const int64_t row = (int64_t(s.table[size_t(pos / bt)]) * v.n_kv_heads + head) * bt + pos % bt;
  std::vector<float> r(static_cast<size_t>(v.head_dim));
  cpu::load_kv_row(k ? v.k : v.v, v.type, row, v.head_dim, r.data());
  return r;
}

TEST(KvCacheQ8_0, RowSizeAndBytes) {
  auto kv = KvCache::create(q8_config(3));
  ASSERT_TRUE(kv) << kv.error().message();
  EXPECT_EQ(kv->row_bytes(), 2u * sizeof(BlockQ8_0));  // 64 / 32 blocks of 34 bytes
  EXPECT_EQ(kv->row_bytes(), 68u);
  // 2 layers x (K, V) x 3 blocks x 2 KV heads x 4 tokens x 68 bytes
  EXPECT_EQ(kv->bytes(), size_t{2} * 2 * 3 * 2 * 4 * 68);
  auto f16 = q8_config(3);
  f16.type = DType::kF16;
  EXPECT_EQ(KvCache::create(f16)->row_bytes(), 128u);
}

TEST(KvCacheQ8_0, WriteReadRoundTrip) {
  auto kv = KvCache::create(q8_config(4));
  ASSERT_TRUE(kv) << kv.error().message();
  SeqKv s;
  ASSERT_TRUE(kv->reserve(s, 11).is_ok());  // blocks of 4: two full, one partial
  const int32_t d = 64, n_kv = 2;
  std::vector<std::vector<float>> ks, vs;  // [pos][n_kv * d]
  for (int pos = 0; pos < 11; ++pos) {
    ks.push_back(random_row(n_kv * d, 1000u + pos));
    vs.push_back(random_row(n_kv * d, 2000u + pos));
    for (int layer = 0; layer < 2; ++layer) kv->write(layer, s, pos, ks.back().data(), vs.back().data());
  }
  double worst_rel = 0;
  for (int layer = 0; layer < 2; ++layer) {
    for (int pos = 0; pos < 11; ++pos) {
      for (int h = 0; h < n_kv; ++h) {
        const auto off = static_cast<std::ptrdiff_t>(h * d);
        const std::vector<float> k(ks[size_t(pos)].begin() + off, ks[size_t(pos)].begin() + off + d);
        const std::vector<float> v(vs[size_t(pos)].begin() + off, vs[size_t(pos)].begin() + off + d);
        SCOPED_TRACE("layer " + std::to_string(layer) + " pos " + std::to_string(pos) + " head " + std::to_string(h));
        const std::vector<float> got_k = read_row(*kv, true, layer, s, pos, h);
        EXPECT_EQ(got_k, q8_round_trip(k));
        EXPECT_EQ(read_row(*kv, false, layer, s, pos, h), q8_round_trip(v));
        // Sanity of the quantizer itself: half a step, max|block| / 254, plus the f16
        // rounding of the scale (relative 2^-11) times |q| <= 127: max|block| / 2048.
        for (int b = 0; b < d / kQK; ++b) {
          float amax = 0;
          for (int i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(k[size_t(b * kQK + i)]));
          for (int i = 0; i < kQK; ++i) {
            const size_t j = size_t(b * kQK + i);
            const double rel = std::fabs(got_k[j] - k[j]) / amax;
            worst_rel = std::max(worst_rel, rel);
          }
        }
      }
    }
  }
  EXPECT_LE(worst_rel, 1.0 / 254 + 1.0 / 2048 + 1e-6);
  EXPECT_GT(worst_rel, 0.0);                // values really were quantized
}

TEST(KvCacheQ8_0, ForkCopiesSharedPartialBlockOnWrite) {
  auto kv = KvCache::create(q8_config(8));
  ASSERT_TRUE(kv) << kv.error().message();
  SeqKv a, b;
  ASSERT_TRUE(kv->reserve(a, 6).is_ok());  // one full block, one half block
  std::vector<std::vector<float>> ks;
  for (int pos = 0; pos < 6; ++pos) {
    ks.push_back(random_row(128, 3000u + pos));
    const auto v = random_row(128, 4000u + pos);
    for (int layer = 0; layer < 2; ++layer) kv->write(layer, a, pos, ks.back().data(), v.data());
  }
  kv->fork(a, b);
  ASSERT_TRUE(kv->reserve(b, 1).is_ok());  // b writes into the shared half block: copied
  EXPECT_EQ(b.table[0], a.table[0]);
  EXPECT_NE(b.table[1], a.table[1]);
  const auto k6 = random_row(128, 5000), v6 = random_row(128, 6000);
  for (int layer = 0; layer < 2; ++layer) kv->write(layer, b, 6, k6.data(), v6.data());
  for (int layer = 0; layer < 2; ++layer) {
    for (int pos = 4; pos < 6; ++pos) {  // the copied rows, in b and (unchanged) in a
      for (int h = 0; h < 2; ++h) {
        const std::vector<float> k(ks[size_t(pos)].begin() + h * 64, ks[size_t(pos)].begin() + h * 64 + 64);
        EXPECT_EQ(read_row(*kv, true, layer, b, pos, h), q8_round_trip(k)) << "b, pos " << pos;
        EXPECT_EQ(read_row(*kv, true, layer, a, pos, h), q8_round_trip(k)) << "a, pos " << pos;
      }
    }
    const std::vector<float> k6h1(k6.begin() + 64, k6.end());
    EXPECT_EQ(read_row(*kv, true, layer, b, 6, 1), q8_round_trip(k6h1));
  }
  EXPECT_EQ(a.n_tokens, 6);  // a never sees b's token: its block was not written
}

TEST(KvCacheQ8_0, RejectsHeadDimNotMultipleOf32) {
  for (int32_t d : {16, 48, 100}) {
    auto c = q8_config(4);
    c.head_dim = d;
    auto kv = KvCache::create(c);
    ASSERT_FALSE(kv) << "head_dim " << d;
    EXPECT_EQ(kv.error().code(), Code::kUnsupported);
    EXPECT_NE(kv.error().message().find("head_dim " + std::to_string(d)), std::string::npos)
        << kv.error().message();
    EXPECT_NE(kv.error().message().find("q8_0"), std::string::npos) << kv.error().message();
  }
}

}  // namespace
}  // namespace tandem
