// The fast decode attention (cpu/attention.h) on every ISA this CPU supports, against
// attention_decode_ref: shuffled block tables, partly filled last blocks, GQA ratios
// 1/2/4/8, head dims 8/16/32/64/128 (q8_0: the multiples of 32), contexts 1/17/300,
// f32/f16/bf16/q8_0 KV; the engine's batch path (causal prefill, one decode token,
// split-K) on a thread arena. For q8_0 the kernels' dequantized rows are also checked to
// be exactly the reference's: a q8_0 cache gives bit for bit the outputs of an f32 cache
// holding dequantize_row_ref's values.
//
// Tolerance. Both sides read the same stored K/V bits (q8_0: both convert them to the
// same f32 values, d * q) and compute in f32; they differ
// only in the order of f32 sums (the q.k dot products, the softmax denominator, the
// weighted V sum; the kernels keep the denominator in f32 where the reference keeps it in
// double, and split-K rescales partial sums once more) and, on AVX-512, in an exp within
// a few ulps of expf. With V and
// the outputs in [-1, 1], each such reordering changes a result by a few units of f32
// rounding (u = 2^-24 ~ 6e-8) times a modest factor; the largest difference seen over all
// cases here is printed by the test (below 3e-7 on AVX2/AVX-512). The bound allowed is
//   |got - ref| <= kAttnAbsTol + kAttnRelTol * |ref|,  1e-5 + 1e-5 |ref|,
// some 40 times above that and far below any real bug (a dropped position, a
// wrong KV head or block moves outputs by ~1e-2 or more).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "cpu/attention.h"
#include "cpu/isa.h"
#include "cpu/ops_ref.h"
#include "cpu/thread_arena.h"

namespace tandem {
namespace {

using cpu::Isa;

constexpr double kAttnAbsTol = 1e-5;
constexpr double kAttnRelTol = 1e-5;

// A paged KV pool for one layer with random contents and a shuffled block table.
struct KvCase {
  DType type;
  int32_t n_kv_heads, head_dim, block_tokens;
  std::vector<uint8_t> k, v;   // [n_blocks, n_kv_heads, block_tokens, head_dim] of type
  std::vector<int32_t> table;  // [ceil(n_ctx / block_tokens)], a shuffled subset of blocks

  cpu::PagedKv view() const {
    return {k.data(), v.data(), type, n_kv_heads, head_dim, block_tokens};
  }
};

KvCase make_kv(DType type, int32_t n_kv_heads, int32_t head_dim, int32_t block_tokens,
               int32_t n_ctx, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  KvCase c{type, n_kv_heads, head_dim, block_tokens, {}, {}, {}};
  const int32_t used = (n_ctx + block_tokens - 1) / block_tokens;
  const int32_t n_blocks = 2 * used + 3;  // unused blocks around the used ones
  const int64_t rows = static_cast<int64_t>(n_blocks) * n_kv_heads * block_tokens;
  c.k.resize(static_cast<size_t>(rows * cpu::kv_row_bytes(type, head_dim)));
  c.v.resize(c.k.size());
  std::vector<float> row(static_cast<size_t>(head_dim));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& x : row) x = u(rng);
    cpu::store_kv_row(c.k.data(), type, r, head_dim, row.data());
    for (float& x : row) x = u(rng);
    cpu::store_kv_row(c.v.data(), type, r, head_dim, row.data());
  }
  std::vector<int32_t> perm(static_cast<size_t>(n_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  c.table.assign(perm.begin(), perm.begin() + used);
  return c;
}

std::vector<float> random_q(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);  // peaked and flat softmaxes both
  std::vector<float> q(static_cast<size_t>(n));
  for (float& x : q) x = u(rng);
  return q;
}

// Compares got with want element by element; returns the largest |diff|, records at
// most 5 failures.
double compare(const std::vector<float>& got, const std::vector<float>& want, int32_t head_dim) {
  double worst = 0;
  int failures = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
    if (!(diff <= kAttnAbsTol + kAttnRelTol * std::fabs(want[i])) && failures++ < 5)
      ADD_FAILURE() << "head " << i / head_dim << " dim " << i % head_dim << ": got " << got[i]
                    << ", reference " << want[i] << ", |diff| " << diff;
  }
  return worst;
}

std::string type_name(DType t) { return std::string(dtype_name(t)); }

struct Param {
  Isa isa;
  DType type;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << cpu::isa_name(p.isa) << " " << dtype_name(p.type);
}

std::vector<Param> all_params() {
  std::vector<Param> v;
  for (Isa isa : cpu::supported_isas())
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) v.push_back({isa, t});
  return v;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(cpu::isa_name(info.param.isa)) + "_" + type_name(info.param.type);
}

class AttentionIsa : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionIsa, OneTokenMatchesReference) {
  const auto [isa, type] = GetParam();
  double worst = 0;
  int cases = 0;
  for (int32_t group : {1, 2, 4, 8}) {
    for (int32_t d : {8, 16, 32, 64, 128}) {
      if (!cpu::kv_type_ok(type, d)) continue;  // q8_0: multiples of 32 only
      for (int32_t n_ctx : {1, 17, 300}) {
        const int32_t n_kv = 2, n_heads = n_kv * group, bt = 16;
        const auto seed = static_cast<uint32_t>(group * 100003 + d * 1009 + n_ctx);
        const KvCase kv = make_kv(type, n_kv, d, bt, n_ctx, seed);
        const std::vector<float> q = random_q(static_cast<int64_t>(n_heads) * d, seed + 1);
        const float scale = 1.f / std::sqrt(static_cast<float>(d));
        std::vector<float> want(q.size()), got(q.size(), NAN);
        cpu::attention_decode_ref(q.data(), n_heads, kv.view(), kv.table, n_ctx, scale, want.data());
        cpu::attention_decode_one(isa, q.data(), n_heads, kv.view(), kv.table, n_ctx, scale, got.data());
        SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " " + type_name(type) + ": group=" +
                     std::to_string(group) + " head_dim=" + std::to_string(d) +
                     " n_ctx=" + std::to_string(n_ctx) +
                     (cpu::attention_simd_ok(isa, d, group) ? " (simd)" : " (reference)"));
        worst = std::max(worst, compare(got, want, d));
        ++cases;
      }
    }
  }
  std::printf("[attention] %s %s: %d cases, max |diff| %.3g\n", std::string(cpu::isa_name(isa)).c_str(),
              type_name(type).c_str(), cases, worst);
}

// Block sizes that are not the chunk size: chunks stop at every block boundary.
TEST_P(AttentionIsa, OddBlockSizesMatchReference) {
  const auto [isa, type] = GetParam();
  for (int32_t bt : {1, 5, 33}) {
    const int32_t n_kv = 3, group = 3, n_heads = 9, d = 64, n_ctx = 100;
    const KvCase kv = make_kv(type, n_kv, d, bt, n_ctx, static_cast<uint32_t>(bt));
    const std::vector<float> q = random_q(static_cast<int64_t>(n_heads) * d, 7u + bt);
    std::vector<float> want(q.size()), got(q.size(), NAN);
    cpu::attention_decode_ref(q.data(), n_heads, kv.view(), kv.table, n_ctx, 0.125f, want.data());
    cpu::attention_decode_one(isa, q.data(), n_heads, kv.view(), kv.table, n_ctx, 0.125f, got.data());
    SCOPED_TRACE("block_tokens=" + std::to_string(bt) + " group=" + std::to_string(group));
    compare(got, want, d);
  }
}

// The lane launcher: a causal batch (token i sees n_ctx0 + i positions), a single token
// on one and on several threads (the latter split over context ranges).
TEST_P(AttentionIsa, LaneBatchMatchesReference) {
  const auto [isa, type] = GetParam();
  struct Shape { int32_t n_kv, group, d, n_ctx0; int64_t n_tokens; int threads; };
  const Shape shapes[] = {
      {2, 4, 64, 13, 9, 2},    // prefill chunk across block boundaries
      {1, 8, 128, 300, 1, 4},  // one decode token, split-K over 2 ranges
      {1, 2, 64, 1000, 1, 8},  // split-K over 7 ranges
      {2, 1, 128, 700, 1, 1},  // one thread: no split
      {4, 2, 16, 1, 5, 2},     // first tokens of a sequence
  };
  for (const Shape& s : shapes) {
    if (!cpu::kv_type_ok(type, s.d)) continue;  // q8_0: the head dim 16 shape
    const int32_t n_heads = s.n_kv * s.group;
    const int32_t max_ctx = s.n_ctx0 + static_cast<int32_t>(s.n_tokens) - 1;
    const KvCase kv = make_kv(type, s.n_kv, s.d, 16, max_ctx, static_cast<uint32_t>(max_ctx));
    const int64_t q_stride = static_cast<int64_t>(n_heads) * s.d;
    const std::vector<float> q = random_q(s.n_tokens * q_stride, 99u + max_ctx);
    const float scale = 1.f / std::sqrt(static_cast<float>(s.d));
    std::vector<float> want(q.size()), got(q.size(), NAN);
    for (int64_t t = 0; t < s.n_tokens; ++t)
      cpu::attention_decode_ref(q.data() + t * q_stride, n_heads, kv.view(), kv.table,
                                s.n_ctx0 + static_cast<int32_t>(t), scale, want.data() + t * q_stride);
    const cpu::ThreadArena arena(s.threads);
    const cpu::CpuLane lane{isa, &arena};
    cpu::AttnBatch b;
    b.q = q.data();
    b.out = got.data();
    b.n_tokens = s.n_tokens;
    b.n_heads = n_heads;
    b.kv = kv.view();
    b.block_table = kv.table;
    b.n_ctx0 = s.n_ctx0;
    b.scale = scale;
    cpu::attention_decode(lane, b);
    SCOPED_TRACE("n_kv=" + std::to_string(s.n_kv) + " group=" + std::to_string(s.group) +
                 " n_ctx0=" + std::to_string(s.n_ctx0) + " n_tokens=" + std::to_string(s.n_tokens) +
                 " splits=" + std::to_string(cpu::attention_splits(s.n_tokens, s.n_kv, s.n_ctx0, s.threads)));
    compare(got, want, s.d);
  }
}

// A q8_0 cache is read as exactly dequantize_row_ref's values on every ISA: its outputs
// equal, bit for bit, those of an f32 cache holding the dequantized rows (same kernel,
// same f32 math). A wrong scale, block offset or sign extension fails this exactly.
TEST(AttentionQ8_0, EqualsF32CacheOfDequantizedRows) {
  for (Isa isa : cpu::supported_isas()) {
    for (int32_t d : {32, 64, 96, 128, 256}) {
      const int32_t n_kv = 2, group = 4, n_heads = n_kv * group, bt = 16, n_ctx = 77;
      const auto seed = static_cast<uint32_t>(d * 31 + 5);
      const KvCase q8 = make_kv(DType::kQ8_0, n_kv, d, bt, n_ctx, seed);
      KvCase f32 = q8;  // same table; pools rewritten as f32
      f32.type = DType::kF32;
      const int64_t rows = static_cast<int64_t>(q8.k.size()) / cpu::kv_row_bytes(DType::kQ8_0, d);
      f32.k.assign(static_cast<size_t>(rows * d) * sizeof(float), 0);
      f32.v.assign(f32.k.size(), 0);
      std::vector<float> row(static_cast<size_t>(d));
      for (int64_t r = 0; r < rows; ++r) {
        cpu::load_kv_row(q8.k.data(), DType::kQ8_0, r, d, row.data());
        cpu::store_kv_row(f32.k.data(), DType::kF32, r, d, row.data());
        cpu::load_kv_row(q8.v.data(), DType::kQ8_0, r, d, row.data());
        cpu::store_kv_row(f32.v.data(), DType::kF32, r, d, row.data());
      }
      const std::vector<float> q = random_q(static_cast<int64_t>(n_heads) * d, seed + 1);
      const float scale = 1.f / std::sqrt(static_cast<float>(d));
      std::vector<float> want(q.size(), NAN), got(q.size(), NAN);
      cpu::attention_decode_one(isa, q.data(), n_heads, f32.view(), f32.table, n_ctx, scale, want.data());
      cpu::attention_decode_one(isa, q.data(), n_heads, q8.view(), q8.table, n_ctx, scale, got.data());
      EXPECT_EQ(got, want) << cpu::isa_name(isa) << " head_dim=" << d
                           << (cpu::attention_simd_ok(isa, d, group) ? " (simd)" : " (reference)");
    }
  }
}

TEST(AttentionQ8_0, RowBytes) {
  EXPECT_EQ(cpu::kv_row_bytes(DType::kQ8_0, 32), 34);
  EXPECT_EQ(cpu::kv_row_bytes(DType::kQ8_0, 128), 4 * 34);
  EXPECT_EQ(cpu::kv_row_bytes(DType::kF16, 128), 256);
  EXPECT_EQ(cpu::kv_row_bytes(DType::kF32, 12), 48);
  EXPECT_TRUE(cpu::kv_type_ok(DType::kQ8_0, 64));
  EXPECT_FALSE(cpu::kv_type_ok(DType::kQ8_0, 48));
  EXPECT_FALSE(cpu::kv_type_ok(DType::kQ8_0, 16));
  EXPECT_FALSE(cpu::kv_type_ok(DType::kQ4_0, 64));
  EXPECT_TRUE(cpu::kv_type_ok(DType::kBF16, 12));
}

INSTANTIATE_TEST_SUITE_P(All, AttentionIsa, ::testing::ValuesIn(all_params()), param_name);

TEST(AttentionSplits, OnlyForOneTokenWithFewKvHeadsAndALongContext) {
  EXPECT_EQ(cpu::attention_splits(1, 1, 300, 4), 2);   // 300 / 128
  EXPECT_EQ(cpu::attention_splits(1, 1, 1000, 8), 7);  // 1000 / 128
  EXPECT_EQ(cpu::attention_splits(1, 2, 4096, 8), 4);  // threads / KV heads
  EXPECT_EQ(cpu::attention_splits(1, 1, 255, 8), 1);   // too short to split
  EXPECT_EQ(cpu::attention_splits(1, 8, 4096, 8), 1);  // KV heads fill the threads
  EXPECT_EQ(cpu::attention_splits(3, 1, 4096, 8), 1);  // a batch of tokens
}

TEST(AttentionSimd, SupportedHeadDims) {
  EXPECT_TRUE(cpu::attention_simd_ok(Isa::kAvx512, 128, 8));
  EXPECT_TRUE(cpu::attention_simd_ok(Isa::kAvx512, 8, 1));  // the AVX2 kernel
  EXPECT_TRUE(cpu::attention_simd_ok(Isa::kAvx2, 64, 4));
  EXPECT_FALSE(cpu::attention_simd_ok(Isa::kAvx2, 12, 1));  // not a multiple of 8
  EXPECT_FALSE(cpu::attention_simd_ok(Isa::kAvx512, 512, 1));
  EXPECT_FALSE(cpu::attention_simd_ok(Isa::kScalar, 64, 1));
}

// A head dim no SIMD kernel takes still gives the reference's result (its fallback).
TEST(AttentionSimd, UnsupportedHeadDimFallsBackToReference) {
  const int32_t d = 12, n_heads = 4, n_ctx = 40;
  const KvCase kv = make_kv(DType::kF16, 2, d, 16, n_ctx, 5);
  const std::vector<float> q = random_q(n_heads * d, 6);
  std::vector<float> want(q.size()), got(q.size(), NAN);
  cpu::attention_decode_ref(q.data(), n_heads, kv.view(), kv.table, n_ctx, 0.3f, want.data());
  for (Isa isa : cpu::supported_isas()) {
    cpu::attention_decode_one(isa, q.data(), n_heads, kv.view(), kv.table, n_ctx, 0.3f, got.data());
    EXPECT_EQ(got, want) << cpu::isa_name(isa);
  }
}

}  // namespace
}  // namespace tandem
