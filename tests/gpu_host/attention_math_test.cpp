// The GPU attention kernels' host+device pieces (gpu/cuda/attention_common.h,
// attention_kv.h), compiled here as plain C++:
//  - the KV row loaders give cpu::load_kv_row's floats bit for bit (f32, f16, bf16,
//    q8_0; head dims 8..256), on rows in one 16-byte-aligned pool as the GPU reads them;
//  - merging the partial softmax states of random splits (empty ones included) equals
//    the one-pass state, and a lone non-empty split merges to exactly its own output;
//  - the split plan, the split ranges, the decode and prefill thread layouts and the
//    shared-memory sizes keep their invariants over wide grids of shapes;
//  - a host model of the decode kernel's algorithm (tiles of 32 keys, splits, merge),
//    built from these functions, matches cpu::attention_decode_ref on paged caches with
//    shuffled block tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cpu/ops_ref.h"
#include "gpu/cuda/attention_common.h"
#include "gpu/cuda/attention_kv.h"

namespace tandem::gpu::attn {
namespace {

// Bytes that start on a 16-byte boundary, as a device allocation does.
struct alignas(16) Chunk16 {
  uint8_t b[16];
};
class AlignedBytes {
 public:
  explicit AlignedBytes(size_t n) : chunks_((n + 15) / 16 + 1) {}
  uint8_t* data() { return chunks_.front().b; }
  const uint8_t* data() const { return chunks_.front().b; }

 private:
  std::vector<Chunk16> chunks_;
};

// ---- KV loaders ------------------------------------------------------------------

template <class Kv>
void check_loader(int32_t head_dim) {
  const DType type = Kv::kType;
  const std::string what = std::string(dtype_name(type)) + " head_dim " + std::to_string(head_dim);
  ASSERT_EQ(Kv::row_bytes(head_dim), cpu::kv_row_bytes(type, head_dim)) << what;
  constexpr int64_t kRows = 37;
  AlignedBytes pool(static_cast<size_t>(kRows * Kv::row_bytes(head_dim)));
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 1000 + head_dim);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(head_dim);
  for (int64_t r = 0; r < kRows; ++r) {
    for (int32_t i = 0; i < head_dim; ++i) {
      const float z = normal(rng);
      x[i] = r % 3 == 0 ? z : r % 3 == 1 ? 1e-4f * z : (i % 29 == 3 ? 60.f * z : z);  // ranges and outliers
    }
    cpu::store_kv_row(pool.data(), type, r, head_dim, x.data());
  }
  int64_t bad = 0;
  std::string first;
  std::vector<float> ref(head_dim);
  for (int64_t r = 0; r < kRows; ++r) {
    cpu::load_kv_row(pool.data(), type, r, head_dim, ref.data());
    for (int32_t c = 0; c < head_dim / 8; ++c) {
      float v[8];
      Kv::load8(pool.data() + r * Kv::row_bytes(head_dim), c, v);
      for (int i = 0; i < 8; ++i) {
        const float want = ref[8 * c + i];
        if (std::bit_cast<uint32_t>(v[i]) == std::bit_cast<uint32_t>(want)) continue;
        if (++bad <= 5)
          first += "\n  row " + std::to_string(r) + " element " + std::to_string(8 * c + i) + ": loader " +
                   std::to_string(v[i]) + " load_kv_row " + std::to_string(want);
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " values differ" << first;
}

TEST(AttentionKvLoaders, MatchLoadKvRowBitForBit) {
  for (int32_t d : {8, 16, 24, 32, 64, 96, 128, 136, 256}) {
    check_loader<KvF32>(d);
    check_loader<KvF16>(d);
    check_loader<KvBF16>(d);
    if (d % 32 == 0) check_loader<KvQ8_0>(d);
  }
}

TEST(AttentionKvLoaders, RowIndexFollowsTheBlockTable) {
  const std::vector<int32_t> table = {5, 0, 9, 2};
  // [n_blocks, n_kv_heads = 3, block_tokens = 7, head_dim] rows.
  EXPECT_EQ(kv_row(table.data(), 0, 3, 0, 7), (5 * 3 + 0) * 7 + 0);
  EXPECT_EQ(kv_row(table.data(), 6, 3, 2, 7), (5 * 3 + 2) * 7 + 6);
  EXPECT_EQ(kv_row(table.data(), 7, 3, 1, 7), (0 * 3 + 1) * 7 + 0);
  EXPECT_EQ(kv_row(table.data(), 27, 3, 2, 7), (2 * 3 + 2) * 7 + 6);
}

// ---- online softmax and the split merge -----------------------------------------------

struct State {
  float m = -INFINITY, l = 0.f;
  std::vector<float> acc;
};

// The kernels' algorithm for one query row over keys [begin, end): tiles of kTileKeys,
// each folded in with online_rescale / softmax_weight (tile max first, as a warp does).
State run_tiles(const std::vector<float>& s, const std::vector<float>& v, int32_t d, int32_t begin, int32_t end) {
  State st;
  st.acc.assign(d, 0.f);
  for (int32_t k0 = begin; k0 < end; k0 += kTileKeys) {
    const int32_t n = std::min(kTileKeys, end - k0);
    float m_tile = -INFINITY;
    for (int32_t k = 0; k < n; ++k) m_tile = std::max(m_tile, s[k0 + k]);
    const Rescale r = online_rescale(st.m, m_tile);
    float sum = 0.f;
    for (float& a : st.acc) a *= r.corr;
    for (int32_t k = 0; k < n; ++k) {
      const float p = softmax_weight(s[k0 + k], r.m_new);
      sum += p;
      for (int32_t i = 0; i < d; ++i) st.acc[i] += p * v[static_cast<size_t>(k0 + k) * d + i];
    }
    st.l = st.l * r.corr + sum;
    st.m = r.m_new;
  }
  return st;
}

std::vector<float> normalized(const State& st) {
  std::vector<float> o(st.acc);
  const float inv = st.l > 0.f ? 1.f / st.l : 0.f;
  for (float& x : o) x *= inv;
  return o;
}

// The merge kernel's arithmetic over partial states.
std::vector<float> merge(const std::vector<State>& parts, int32_t d) {
  const auto n = static_cast<int32_t>(parts.size());
  std::vector<float> ml(2 * n), acc(static_cast<size_t>(n) * d), w(n), out(d);
  for (int32_t s = 0; s < n; ++s) {
    ml[2 * s] = parts[s].m;
    ml[2 * s + 1] = parts[s].l;
    std::copy(parts[s].acc.begin(), parts[s].acc.end(), acc.begin() + static_cast<size_t>(s) * d);
  }
  const Merged g = merge_states(ml.data(), n);
  for (int32_t s = 0; s < n; ++s) w[s] = split_weight(ml.data(), s, g);
  for (int32_t i = 0; i < d; ++i) out[i] = merge_column(w.data(), acc.data() + i, d, n);
  return out;
}

// Softmax-weighted sum in double: the exact value the f32 paths approximate.
std::vector<double> exact(const std::vector<float>& s, const std::vector<float>& v, int32_t d, int32_t n) {
  double m = -INFINITY, l = 0;
  for (int32_t k = 0; k < n; ++k) m = std::max(m, static_cast<double>(s[k]));
  std::vector<double> o(d, 0.0);
  for (int32_t k = 0; k < n; ++k) {
    const double p = std::exp(s[k] - m);
    l += p;
    for (int32_t i = 0; i < d; ++i) o[i] += p * v[static_cast<size_t>(k) * d + i];
  }
  for (double& x : o) x /= l;
  return o;
}

TEST(AttentionSoftmax, EmptyStatesNeverMakeNaN) {
  const Rescale r = online_rescale(-INFINITY, -INFINITY);
  EXPECT_EQ(r.m_new, -INFINITY);
  EXPECT_EQ(r.corr, 0.f);
  EXPECT_EQ(softmax_weight(-INFINITY, -INFINITY), 0.f);
  const Rescale first = online_rescale(-INFINITY, 2.5f);
  EXPECT_EQ(first.m_new, 2.5f);
  EXPECT_EQ(first.corr, 0.f);
  const float ml[4] = {-INFINITY, 0.f, -INFINITY, 0.f};
  const Merged g = merge_states(ml, 2);
  EXPECT_EQ(g.inv_l, 0.f);
  EXPECT_EQ(split_weight(ml, 1, g), 0.f);
}

// Merging the states of random key ranges (empty ones, single keys, ranges that do not
// start on a tile boundary) equals the one-pass state. Both are f32 computations of the
// same sums; they differ by the extra rescale of each partial accumulator (one more
// rounding per term) and the order of the sums: a few units of f32 rounding of values
// in [-1, 1]. Bound: 2e-6 absolute (over 30 u); the largest difference is printed.
TEST(AttentionSoftmax, MergeOfRandomSplitsEqualsOnePass) {
  constexpr int32_t d = 16;
  constexpr double kTol = 2e-6;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uv(-1.f, 1.f);
  double worst_split = 0, worst_exact = 0;
  for (int32_t n : {1, 2, 31, 32, 33, 300, 2000}) {
    for (float spread : {0.1f, 3.f, 30.f}) {  // flat, moderate and peaked softmaxes
      std::vector<float> s(n), v(static_cast<size_t>(n) * d);
      for (float& x : s) x = spread * uv(rng);
      for (float& x : v) x = uv(rng);
      const std::vector<float> one = normalized(run_tiles(s, v, d, 0, n));
      const std::vector<double> ex = exact(s, v, d, n);
      for (int32_t i = 0; i < d; ++i) worst_exact = std::max(worst_exact, std::fabs(one[i] - ex[i]));
      for (int trial = 0; trial < 20; ++trial) {
        // Random cut points in [0, n], repeats allowed (empty splits).
        const int32_t cuts = 1 + static_cast<int32_t>(rng() % 9);
        std::vector<int32_t> at = {0, n};
        for (int32_t c = 0; c < cuts; ++c) at.push_back(static_cast<int32_t>(rng() % (n + 1)));
        std::sort(at.begin(), at.end());
        std::vector<State> parts;
        for (size_t c = 0; c + 1 < at.size(); ++c) parts.push_back(run_tiles(s, v, d, at[c], at[c + 1]));
        std::shuffle(parts.begin(), parts.end(), rng);  // the merge does not depend on the order
        const std::vector<float> merged = merge(parts, d);
        for (int32_t i = 0; i < d; ++i) {
          const double diff = std::fabs(static_cast<double>(merged[i]) - one[i]);
          worst_split = std::max(worst_split, std::isnan(diff) ? INFINITY : diff);
          ASSERT_LE(diff, kTol) << "n " << n << " spread " << spread << " trial " << trial << " " << parts.size()
                                << " splits, column " << i << ": merged " << merged[i] << " one pass " << one[i];
        }
      }
    }
  }
  // The one-pass f32 state against the exact softmax, for scale.
  EXPECT_LE(worst_exact, 1e-5);
  std::printf("largest |merged - one pass| %.3g, |one pass - exact| %.3g\n", worst_split, worst_exact);
}

TEST(AttentionSoftmax, ALoneNonEmptySplitMergesToItsOwnOutputExactly) {
  constexpr int32_t d = 8;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-4.f, 4.f);
  std::vector<float> s(100), v(100 * d);
  for (float& x : s) x = u(rng);
  for (float& x : v) x = u(rng);
  const State st = run_tiles(s, v, d, 0, 100);
  const State empty = run_tiles(s, v, d, 50, 50);
  EXPECT_EQ(empty.m, -INFINITY);
  EXPECT_EQ(empty.l, 0.f);
  const std::vector<float> merged = merge({empty, st, empty}, d);
  const std::vector<float> direct = normalized(st);
  for (int32_t i = 0; i < d; ++i) EXPECT_EQ(merged[i], direct[i]) << "column " << i;
}

// ---- decode split plan and ranges -----------------------------------------------------

TEST(AttentionDecodePlan, SplitsOnlyLongContextsOfSmallBatches) {
  EXPECT_EQ(plan_decode(4, 511, 132).n_split, 1);     // too short to split
  EXPECT_EQ(plan_decode(1000, 32768, 132).n_split, 1);  // enough CTAs already
  // 4 CTAs on 132 SMs want 132 splits; 2000 keys allow 7 of >= 256: chunk 286 -> 288.
  const DecodePlan p = plan_decode(4, 2000, 132);
  EXPECT_EQ(p.n_split, 7);
  EXPECT_EQ(p.chunk, 288);
  const DecodePlan big = plan_decode(1, 1 << 20, 132);
  EXPECT_EQ(big.n_split, kDecodeMaxSplits);
  EXPECT_EQ(big.chunk, (1 << 20) / kDecodeMaxSplits);
}

TEST(AttentionDecodePlan, InvariantsOverAGrid) {
  for (int32_t n_sm : {1, 40, 108, 132}) {
    for (int64_t ctas : {1, 2, 3, 8, 32, 100, 264, 1000, 100000}) {
      for (int32_t max_ctx : {0, 1, 17, 300, 511, 512, 513, 1000, 2000, 4097, 32768, 131072}) {
        const DecodePlan p = plan_decode(ctas, max_ctx, n_sm);
        const std::string what = "ctas " + std::to_string(ctas) + " max_ctx " + std::to_string(max_ctx) + " SMs " +
                                 std::to_string(n_sm);
        ASSERT_GE(p.n_split, 1) << what;
        ASSERT_LE(p.n_split, kDecodeMaxSplits) << what;
        if (p.n_split == 1) continue;
        EXPECT_GE(max_ctx, 2 * kDecodeMinChunk) << what;
        EXPECT_EQ(p.chunk % kTileKeys, 0) << what;
        EXPECT_GE(p.chunk, kDecodeMinChunk) << what;
        EXPECT_LT(int64_t{p.n_split - 1} * p.chunk, max_ctx) << what << ": an empty split for the longest token";
        EXPECT_GE(int64_t{p.n_split} * p.chunk, max_ctx) << what;
        EXPECT_LE(ctas * p.n_split, int64_t{2} * kDecodeCtasPerSm * n_sm + ctas) << what;
      }
    }
  }
}

TEST(AttentionDecodePlan, SplitRangesPartitionEveryContext) {
  for (const DecodePlan p : {DecodePlan{1, 0}, DecodePlan{2, 32}, DecodePlan{7, 288}, DecodePlan{64, 32}}) {
    for (int32_t n_ctx = 0; n_ctx <= p.n_split * std::max(p.chunk, 1) + 40; ++n_ctx) {
      int32_t next = 0;
      for (int32_t s = 0; s < p.n_split; ++s) {
        const KeyRange r = split_range(n_ctx, p, s);
        ASSERT_EQ(r.begin, next) << "split " << s << " of " << p.n_split << ", n_ctx " << n_ctx;
        ASSERT_LE(r.begin, r.end) << "split " << s << ", n_ctx " << n_ctx;
        if (p.n_split > 1 && s < p.n_split - 1) {
          ASSERT_LE(r.end - r.begin, p.chunk);
        }
        next = r.end;
      }
      ASSERT_EQ(next, n_ctx) << "splits of " << p.n_split << " x " << p.chunk << " leave keys out of " << n_ctx;
    }
  }
}

// ---- thread layouts and shared memory --------------------------------------------------

TEST(AttentionDecodeLayout, EveryHeadColumnAndDotOnceAndNoBankConflicts) {
  for (int32_t d = 8; d <= kMaxHeadDim; d += 8) {
    for (int32_t heads = 1; heads <= kDecodeMaxHeads; ++heads) {
      const std::string what = "head_dim " + std::to_string(d) + " heads " + std::to_string(heads);
      const DecodeLayout L = decode_layout(d, heads);
      const int32_t hpt = decode_heads_per_thread_bucket(L.heads_per_thread);
      ASSERT_LE(L.heads_per_thread, hpt) << what;
      ASSERT_LE(hpt, 8) << what;
      ASSERT_LE(L.col_blocks, 2) << what;
      ASSERT_EQ(L.cols * L.col_blocks, d) << what;
      // P.V: (head, column) pairs.
      std::vector<int> seen(static_cast<size_t>(heads) * d, 0);
      for (int32_t tid = 0; tid < kThreads; ++tid) {
        const int32_t d_lane = tid % L.cols, g_lane = tid / L.cols;
        if (g_lane >= L.row_groups) continue;
        for (int32_t j = 0; j < hpt; ++j)
          for (int32_t c = 0; c < L.col_blocks; ++c) {
            const int32_t g = g_lane + L.row_groups * j;
            if (g < heads) ++seen[static_cast<size_t>(g) * d + d_lane + L.cols * c];
          }
      }
      for (size_t i = 0; i < seen.size(); ++i)
        ASSERT_EQ(seen[i], 1) << what << ": head " << i / d << " column " << i % d;
      // Scores: (head, key) dots, every float4 chunk of each once.
      const int32_t per_pass = kThreads / L.dot_threads;
      const int32_t n_dots = round_up(heads * kTileKeys, per_pass);
      std::vector<int> chunk_seen(static_cast<size_t>(heads) * kTileKeys * (d / 4), 0);
      for (int32_t tid = 0; tid < kThreads; ++tid) {
        for (int32_t dot = tid / L.dot_threads; dot < n_dots; dot += per_pass) {
          const int32_t g = dot / kTileKeys, key = dot % kTileKeys;
          if (g >= heads) continue;
          for (int32_t c = tid % L.dot_threads; c < d / 4; c += L.dot_threads)
            ++chunk_seen[(static_cast<size_t>(g) * kTileKeys + key) * (d / 4) + c];
        }
      }
      for (size_t i = 0; i < chunk_seen.size(); ++i) ASSERT_EQ(chunk_seen[i], 1) << what << ": dot chunk " << i;
      // A float4 read is served per quarter warp: its 8 lanes' first chunks must fall on
      // 8 distinct 4-bank groups (tile offset key * stride + 4 c, in floats).
      ASSERT_EQ(L.tile_stride % 4, 0) << what;
      for (int32_t q0 = 0; q0 < kThreads; q0 += 8) {
        std::set<int32_t> groups;
        size_t active = 0;
        for (int32_t tid = q0; tid < q0 + 8; ++tid) {
          const int32_t key = (tid / L.dot_threads) % kTileKeys, c = tid % L.dot_threads;
          if (c >= d / 4) continue;  // no chunk for this lane
          ++active;
          groups.insert(((key * L.tile_stride + 4 * c) / 4) % 8);
        }
        EXPECT_EQ(groups.size(), active) << what << ": bank conflict in quarter warp at thread " << q0;
      }
      EXPECT_LE(decode_smem_bytes(d, heads), 48 * 1024) << what;
    }
  }
}

TEST(AttentionPrefillTiling, EveryTokenAndHeadOnce) {
  for (int32_t d : {8, 24, 64, 72, 128, 136, 248, 256}) {
    const PrefillTiling probe = prefill_tiling(1, 1, d);
    EXPECT_EQ(probe.rows_per_warp, d <= 128 ? 8 : 4);
    EXPECT_GE(32 / probe.rows_per_warp * 32, d);  // columns per lane cover the head
    EXPECT_LE(prefill_smem_bytes(d), d <= 128 ? 48 * 1024 : 64 * 1024) << "head_dim " << d;  // T4: 64 KiB opt-in
    std::set<int32_t> groups;  // lanes 0..7 read float4 0 of keys 0..7
    for (int32_t key = 0; key < 8; ++key) groups.insert((key * prefill_tile_stride(d) / 4) % 8);
    EXPECT_EQ(groups.size(), 8u) << "head_dim " << d << ": bank conflict in the prefill score step";
    for (int32_t group : {1, 2, 3, 4, 7, 8, 16, 32, 33, 64}) {
      for (int32_t n_tokens : {1, 5, 32, 33, 100}) {
        const std::string what = "head_dim " + std::to_string(d) + " group " + std::to_string(group) + " tokens " +
                                 std::to_string(n_tokens);
        const PrefillTiling t = prefill_tiling(n_tokens, group, d);
        const int32_t rows = kWarps * t.rows_per_warp;
        ASSERT_LE(t.heads_per_cta * t.tokens_per_cta, rows) << what;
        std::vector<int> seen(static_cast<size_t>(n_tokens) * group, 0);
        for (int32_t tile = 0; tile < t.token_tiles; ++tile)
          for (int32_t slice = 0; slice < t.head_slices; ++slice)
            for (int32_t r = 0; r < rows; ++r) {
              const PrefillRow row = prefill_row(t, n_tokens, group, tile, slice, r);
              if (!row.valid) continue;
              ASSERT_LT(row.token, n_tokens) << what;
              ASSERT_LT(row.head, group) << what;
              ++seen[static_cast<size_t>(row.token) * group + row.head];
            }
        for (size_t i = 0; i < seen.size(); ++i)
          ASSERT_EQ(seen[i], 1) << what << ": token " << i / group << " head " << i % group;
      }
    }
  }
}

TEST(AttentionShapes, ContractNamesTheProblem) {
  EXPECT_EQ(attention_shape_problem(DType::kF16, 32, 8, 128, 16), nullptr);
  EXPECT_EQ(attention_shape_problem(DType::kQ8_0, 8, 8, 64, 1), nullptr);
  EXPECT_EQ(attention_shape_problem(DType::kBF16, 12, 4, 8, 7), nullptr);
  EXPECT_NE(attention_shape_problem(DType::kQ4_0, 32, 8, 128, 16), nullptr);
  EXPECT_NE(attention_shape_problem(DType::kF16, 32, 8, 100, 16), nullptr);   // not a multiple of 8
  EXPECT_NE(attention_shape_problem(DType::kF16, 32, 8, 264, 16), nullptr);   // > 256
  EXPECT_NE(attention_shape_problem(DType::kQ8_0, 32, 8, 72, 16), nullptr);   // q8_0: multiple of 32
  EXPECT_NE(attention_shape_problem(DType::kF16, 30, 8, 128, 16), nullptr);   // not a multiple of n_kv_heads
  EXPECT_NE(attention_shape_problem(DType::kF16, 32, 0, 128, 16), nullptr);
  EXPECT_NE(attention_shape_problem(DType::kF16, 32, 8, 128, 0), nullptr);
}

// ---- host model of the decode kernel against the reference ------------------------

// What the decode kernel computes for one token, with the same pieces in the same
// order per tile: kv_row and Kv::load8 for the K/V rows, split_range per split, the
// tile-wise online softmax, then the merge. Scores in f32 in the kernel's chunk order.
template <class Kv>
std::vector<float> model_decode(const std::vector<float>& q, int32_t n_heads, const cpu::PagedKv& kv,
                                const std::vector<int32_t>& table, int32_t n_ctx, float scale, const DecodePlan& plan) {
  const int32_t d = kv.head_dim, group = n_heads / kv.n_kv_heads;
  const auto* k_pool = static_cast<const uint8_t*>(kv.k);
  const auto* v_pool = static_cast<const uint8_t*>(kv.v);
  std::vector<float> out(static_cast<size_t>(n_heads) * d);
  for (int32_t h = 0; h < n_heads; ++h) {
    const int32_t kvh = h / group;
    std::vector<float> s(n_ctx), v(static_cast<size_t>(n_ctx) * d), krow(d);
    for (int32_t pos = 0; pos < n_ctx; ++pos) {
      const int64_t row = kv_row(table.data(), pos, kv.n_kv_heads, kvh, kv.block_tokens);
      for (int32_t c = 0; c < d / 8; ++c) {
        float kc[8], vc[8];
        Kv::load8(k_pool + row * Kv::row_bytes(d), c, kc);
        Kv::load8(v_pool + row * Kv::row_bytes(d), c, vc);
        std::copy(kc, kc + 8, krow.begin() + 8 * c);
        std::copy(vc, vc + 8, v.begin() + static_cast<size_t>(pos) * d + 8 * c);
      }
      float dot = 0.f;
      for (int32_t i = 0; i < d; ++i) dot += q[static_cast<size_t>(h) * d + i] * krow[i];
      s[pos] = dot * scale;
    }
    std::vector<State> parts;
    for (int32_t sp = 0; sp < plan.n_split; ++sp) {
      const KeyRange r = split_range(n_ctx, plan, sp);
      parts.push_back(run_tiles(s, v, d, r.begin, r.end));
    }
    const std::vector<float> o = plan.n_split == 1 ? normalized(parts[0]) : merge(parts, d);
    std::copy(o.begin(), o.end(), out.begin() + static_cast<size_t>(h) * d);
  }
  return out;
}

template <class Kv>
void check_model(int32_t head_dim, int32_t group) {
  constexpr int32_t kKvHeads = 2, kBlockTokens = 16;
  const DType type = Kv::kType;
  std::mt19937 rng(static_cast<uint32_t>(head_dim * 31 + group));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  double worst = 0;
  for (int32_t n_ctx : {1, 17, 300, 2000}) {
    const int32_t used = (n_ctx + kBlockTokens - 1) / kBlockTokens, n_blocks = used + 5;
    const int64_t rows = int64_t{n_blocks} * kKvHeads * kBlockTokens;
    AlignedBytes k(static_cast<size_t>(rows * Kv::row_bytes(head_dim))), v(static_cast<size_t>(rows * Kv::row_bytes(head_dim)));
    std::vector<float> x(head_dim);
    for (int64_t r = 0; r < rows; ++r) {
      for (float& e : x) e = u(rng);
      cpu::store_kv_row(k.data(), type, r, head_dim, x.data());
      for (float& e : x) e = u(rng);
      cpu::store_kv_row(v.data(), type, r, head_dim, x.data());
    }
    std::vector<int32_t> perm(n_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const std::vector<int32_t> table(perm.begin(), perm.begin() + used);
    const cpu::PagedKv kv{k.data(), v.data(), type, kKvHeads, head_dim, kBlockTokens};
    const int32_t n_heads = kKvHeads * group;
    std::vector<float> q(static_cast<size_t>(n_heads) * head_dim);
    for (float& e : q) e = 2.f * u(rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
    std::vector<float> ref(q.size());
    cpu::attention_decode_ref(q.data(), n_heads, kv, table, n_ctx, scale, ref.data());
    for (const DecodePlan plan : {DecodePlan{1, 0}, DecodePlan{5, 64}, plan_decode(kKvHeads, n_ctx, 132)}) {
      const std::vector<float> got = model_decode<Kv>(q, n_heads, kv, table, n_ctx, scale, plan);
      for (size_t i = 0; i < ref.size(); ++i) {
        const double diff = std::fabs(static_cast<double>(got[i]) - ref[i]);
        worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
        ASSERT_LE(diff, 1e-5 + 1e-5 * std::fabs(ref[i]))
            << dtype_name(type) << " head_dim " << head_dim << " group " << group << " n_ctx " << n_ctx << " plan "
            << plan.n_split << " x " << plan.chunk << ": head " << i / head_dim << " column " << i % head_dim
            << " model " << got[i] << " reference " << ref[i];
      }
    }
  }
  std::printf("%s head_dim %d group %d: largest |model - reference| %.3g\n", std::string(dtype_name(type)).c_str(),
              head_dim, group, worst);
}

TEST(AttentionDecodeModel, MatchesReferenceOnPagedCaches) {
  for (int32_t group : {1, 4}) {
    check_model<KvF16>(64, group);
    check_model<KvQ8_0>(128, group);
  }
  check_model<KvBF16>(128, 8);
  check_model<KvF32>(64, 8);
}

}  // namespace
}  // namespace tandem::gpu::attn
