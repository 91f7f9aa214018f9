// GPU attention (gpu/cuda/attention.cuh) against cpu::attention_decode_ref on paged
// caches like the engine's: block tables drawn from a shuffled pool (unused blocks hold
// random rows too, so reading a wrong block shows), forked sequences sharing their
// parent's first blocks, partly filled last blocks, GQA groups 1/4/8 (and 2, 3, 5, 7, 12,
// 16, 33, 64 for the CTA slicing), head dims 64/128 (and 8, 32, 96, 136, 256), f16,
// bf16, q8_0 and f32 KV; decode batches of several sequences with contexts 1, 17, 300,
// 2000 under the natural split plan, no split, and forced splits (many empty ones for
// the short sequences); causal prefill chunks at pos0 = 0 and pos0 > 0.
//
// Tolerance. Both sides read the same stored K/V bits and convert them to the same f32
// values (attention_kv.h, checked bit for bit in tests/gpu_host); both compute in f32.
// They differ only in the order of f32 sums (the q.k dot products in float4 pieces and
// with fused multiply-adds, the softmax denominator per tile, the P.V sums), the GPU's
// expf (within 2 ulp of the CPU's), and split-K's one extra rescale per partial sum.
// With V in [-1, 1] and |q| <= 2 each of these moves an output by a few units of f32
// rounding (u = 6e-8) times a modest factor; the CPU's SIMD kernels, with the same kinds
// of differences, stay below 3e-7 (tests/cpu/attention_test.cpp). The bound is the CPU
// test's,  |gpu - cpu| <= 1e-5 + 1e-5 |cpu|,  far below any real bug (a dropped key, a
// wrong block or KV head moves outputs by ~1e-2 or more); the largest difference seen is
// printed. A context of one key must give that key's V row exactly (weight exp(0) = 1).
//
// On a mismatch the message names the case, the plan, the token (sequence, n_ctx), the
// query head and its KV head, and tries simple explanations (a key dropped or added,
// a split missing, another KV head, the output of another row) against the bad row.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cpu/ops_ref.h"
#include "gpu/cuda/attention.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using attn::DecodePlan;
using testing::GpuTest;

constexpr double kAbsTol = 1e-5;
constexpr double kRelTol = 1e-5;

struct Shape {
  DType type;
  int32_t head_dim, group, n_kv_heads, block_tokens;
  int32_t n_heads() const { return group * n_kv_heads; }
};

std::string describe(const Shape& s) {
  return std::string(dtype_name(s.type)) + " head_dim " + std::to_string(s.head_dim) + " group " +
         std::to_string(s.group) + " kv_heads " + std::to_string(s.n_kv_heads) + " block_tokens " +
         std::to_string(s.block_tokens);
}

struct Seq {
  std::vector<int32_t> table;
  int32_t n_ctx = 0;
  std::string name;
};

// One layer's paged pools with random rows in every block, and the sequences' tables.
struct Cache {
  Shape shape;
  int32_t n_blocks = 0;
  std::vector<uint8_t> k, v;
  std::vector<Seq> seqs;
  cpu::PagedKv view() const {
    return {k.data(), v.data(), shape.type, shape.n_kv_heads, shape.head_dim, shape.block_tokens};
  }
};

// Sequences of the given contexts; then forks: {parent, shared full blocks, own tokens
// after them}. Blocks come from a shuffled pool with spare blocks left over.
struct Fork {
  int parent;
  int32_t shared_blocks;
  int32_t extra_tokens;
};
Cache make_cache(const Shape& s, const std::vector<int32_t>& contexts, const std::vector<Fork>& forks, uint32_t seed) {
  Cache c;
  c.shape = s;
  std::mt19937 rng(seed);
  const int32_t bt = s.block_tokens;
  int32_t needed = 0;
  for (int32_t n : contexts) needed += (n + bt - 1) / bt;
  for (const Fork& f : forks) needed += (f.extra_tokens + bt - 1) / bt;
  c.n_blocks = needed + 7;
  std::vector<int32_t> free(c.n_blocks);
  std::iota(free.begin(), free.end(), 0);
  std::shuffle(free.begin(), free.end(), rng);
  auto take = [&](int32_t n) {
    std::vector<int32_t> t(free.end() - n, free.end());
    free.resize(free.size() - n);
    return t;
  };
  for (int32_t n : contexts)
    c.seqs.push_back({take((n + bt - 1) / bt), n, "seq " + std::to_string(c.seqs.size())});
  for (const Fork& f : forks) {
    const Seq& p = c.seqs[f.parent];
    Seq child;
    child.table.assign(p.table.begin(), p.table.begin() + f.shared_blocks);
    const std::vector<int32_t> own = take((f.extra_tokens + bt - 1) / bt);
    child.table.insert(child.table.end(), own.begin(), own.end());
    child.n_ctx = f.shared_blocks * bt + f.extra_tokens;
    child.name = "seq " + std::to_string(c.seqs.size()) + " (fork of seq " + std::to_string(f.parent) + ", " +
                 std::to_string(f.shared_blocks) + " blocks shared)";
    c.seqs.push_back(std::move(child));
  }
  const int64_t rows = int64_t{c.n_blocks} * s.n_kv_heads * bt;
  c.k.resize(static_cast<size_t>(rows * cpu::kv_row_bytes(s.type, s.head_dim)));
  c.v.resize(c.k.size());
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(s.head_dim);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& e : x) e = u(rng);
    cpu::store_kv_row(c.k.data(), s.type, r, s.head_dim, x.data());
    for (float& e : x) e = u(rng);
    cpu::store_kv_row(c.v.data(), s.type, r, s.head_dim, x.data());
  }
  return c;
}

std::vector<float> random_q(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);  // peaked and flat softmaxes both
  std::vector<float> q(n);
  for (float& x : q) x = u(rng);
  return q;
}

// One query token as the test sees it: its sequence and the keys it attends to.
struct TokenInfo {
  const Seq* seq;
  int32_t n_ctx;
};

// Softmax-weighted V of one query head over keys [b, e) of a sequence, KV head kvh, in
// double: the candidates of diagnose().
std::vector<double> head_over(const Cache& c, const float* qh, const Seq& seq, int32_t kvh, int32_t b, int32_t e,
                              float scale) {
  const int32_t d = c.shape.head_dim;
  std::vector<float> krow(d), vrow(d);
  std::vector<double> acc(d, 0.0);
  std::vector<double> s;
  for (int32_t pos = b; pos < e; ++pos) {
    const int64_t row = (int64_t{seq.table[pos / c.shape.block_tokens]} * c.shape.n_kv_heads + kvh) *
                            c.shape.block_tokens + pos % c.shape.block_tokens;
    cpu::load_kv_row(c.k.data(), c.shape.type, row, d, krow.data());
    double dot = 0;
    for (int32_t i = 0; i < d; ++i) dot += static_cast<double>(qh[i]) * krow[i];
    s.push_back(dot * scale);
  }
  if (s.empty()) return acc;
  const double m = *std::max_element(s.begin(), s.end());
  double l = 0;
  for (int32_t pos = b; pos < e; ++pos) {
    const int64_t row = (int64_t{seq.table[pos / c.shape.block_tokens]} * c.shape.n_kv_heads + kvh) *
                            c.shape.block_tokens + pos % c.shape.block_tokens;
    cpu::load_kv_row(c.v.data(), c.shape.type, row, d, vrow.data());
    const double p = std::exp(s[pos - b] - m);
    l += p;
    for (int32_t i = 0; i < d; ++i) acc[i] += p * vrow[i];
  }
  for (double& x : acc) x /= l;
  return acc;
}

bool row_close(const float* got, const std::vector<double>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-4 + 1e-4 * std::fabs(want[i]))) return false;
  return true;
}

// Simple explanations of a wrong output row of token t, query head h.
std::string diagnose(const Cache& c, const std::vector<float>& q, const std::vector<float>& got,
                     const std::vector<float>& ref, const std::vector<TokenInfo>& tokens, int32_t t, int32_t h,
                     const DecodePlan& plan, float scale) {
  const int32_t d = c.shape.head_dim, n_heads = c.shape.n_heads();
  const float* g = got.data() + (static_cast<size_t>(t) * n_heads + h) * d;
  const float* qh = q.data() + (static_cast<size_t>(t) * n_heads + h) * d;
  const Seq& seq = *tokens[t].seq;
  const int32_t n = tokens[t].n_ctx, kvh = h / c.shape.group;
  const int32_t capacity = static_cast<int32_t>(seq.table.size()) * c.shape.block_tokens;
  std::string found;
  auto check = [&](const std::string& what, int32_t kv, int32_t b, int32_t e) {
    if (b <= e && e <= capacity && row_close(g, head_over(c, qh, seq, kv, b, e, scale))) found += "; " + what;
  };
  if (std::any_of(g, g + d, [](float x) { return std::isnan(x); })) found += "; NaN in the row (never written?)";
  check("keys [0, n_ctx - 1): last key dropped", kvh, 0, n - 1);
  check("keys [1, n_ctx): first key dropped", kvh, 1, n);
  check("keys [0, n_ctx + 1): one key too many", kvh, 0, n + 1);
  if (n % 32 != 0) check("keys [0, n_ctx rounded down to 32): partial last tile dropped", kvh, 0, n / 32 * 32);
  for (int32_t other = 0; other < c.shape.n_kv_heads; ++other)
    if (other != kvh) check("KV head " + std::to_string(other) + " instead of " + std::to_string(kvh), other, 0, n);
  for (int32_t s = 0; plan.n_split > 1 && s < plan.n_split; ++s) {
    const attn::KeyRange r = attn::split_range(n, plan, s);
    if (r.begin == r.end) continue;
    check("only split " + std::to_string(s) + " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")",
          kvh, r.begin, r.end);
  }
  for (size_t other = 0; other < ref.size() / d; ++other) {
    if (other == static_cast<size_t>(t) * n_heads + h) continue;
    std::vector<double> want(ref.begin() + other * d, ref.begin() + (other + 1) * d);
    if (row_close(g, want))
      found += "; the reference of token " + std::to_string(other / n_heads) + " head " + std::to_string(other % n_heads);
  }
  return found.empty() ? "; no simple explanation" : found;
}

// Compares every (token, head) row; names the first few bad ones with their diagnosis.
// Returns the largest |diff|.
double compare(const Cache& c, const std::vector<float>& q, const std::vector<float>& got,
               const std::vector<float>& ref, const std::vector<TokenInfo>& tokens, const DecodePlan& plan,
               float scale, const std::string& what) {
  const int32_t d = c.shape.head_dim, n_heads = c.shape.n_heads();
  EXPECT_EQ(got.size(), ref.size()) << what;
  double worst = 0;
  int bad_rows = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int32_t h = 0; h < n_heads; ++h) {
      const size_t off = (t * n_heads + h) * d;
      int bad = 0, first = -1;
      for (int32_t i = 0; i < d; ++i) {
        const double diff = std::fabs(static_cast<double>(got[off + i]) - ref[off + i]);
        worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
        if (!(diff <= kAbsTol + kRelTol * std::fabs(ref[off + i])) && bad++ == 0) first = i;
      }
      if (bad == 0) continue;
      if (++bad_rows <= 6) {
        ADD_FAILURE() << what << ": token " << t << " (" << tokens[t].seq->name << ", n_ctx " << tokens[t].n_ctx
                      << ") head " << h << " (KV head " << h / c.shape.group << "): " << bad << " of " << d
                      << " columns off, first column " << first << " gpu " << got[off + first] << " cpu "
                      << ref[off + first]
                      << diagnose(c, q, got, ref, tokens, static_cast<int32_t>(t), h, plan, scale);
      }
    }
  }
  if (bad_rows > 6) ADD_FAILURE() << what << ": " << bad_rows << " bad rows in all";
  return worst;
}

// A context of one key gives that key's V row exactly.
void expect_single_key_rows_exact(const Cache& c, const std::vector<float>& got, const std::vector<TokenInfo>& tokens,
                                  const std::string& what) {
  const int32_t d = c.shape.head_dim, n_heads = c.shape.n_heads();
  std::vector<float> vrow(d);
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t].n_ctx != 1) continue;
    for (int32_t h = 0; h < n_heads; ++h) {
      const int32_t kvh = h / c.shape.group;
      const int64_t row = (int64_t{tokens[t].seq->table[0]} * c.shape.n_kv_heads + kvh) * c.shape.block_tokens;
      cpu::load_kv_row(c.v.data(), c.shape.type, row, d, vrow.data());
      const float* g = got.data() + (t * n_heads + h) * d;
      for (int32_t i = 0; i < d; ++i) {
        ASSERT_EQ(g[i], vrow[i]) << what << ": token " << t << " (" << tokens[t].seq->name
                                 << ", one key) head " << h << " column " << i
                                 << " is not the V row of its only key (block " << tokens[t].seq->table[0]
                                 << ", KV head " << kvh << ")";
      }
    }
  }
}

// Uploads the cache's pools once per case.
struct DeviceCache {
  DeviceBuffer k, v;
  AttnKv view(const Shape& s) const { return {k.data(), v.data(), s.type, s.n_kv_heads, s.head_dim, s.block_tokens}; }
};

std::string plan_name(const DecodePlan& p) {
  return p.n_split == 1 ? "no split" : std::to_string(p.n_split) + " splits of " + std::to_string(p.chunk);
}

// Runs a decode batch (one token per TokenInfo) under each plan (plus the natural one)
// and checks it; returns the largest |diff|.
double run_decode(GpuTest& t, const Cache& c, const std::vector<TokenInfo>& tokens, std::vector<DecodePlan> plans,
                  uint32_t seed) {
  const Shape& s = c.shape;
  const int32_t n_tokens = static_cast<int32_t>(tokens.size()), n_heads = s.n_heads(), d = s.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  const std::vector<float> q = random_q(static_cast<size_t>(n_tokens) * n_heads * d, seed);
  std::vector<float> ref(q.size());
  std::vector<int32_t> tables, starts, n_ctx;
  int32_t max_ctx = 0;
  for (int32_t i = 0; i < n_tokens; ++i) {
    const TokenInfo& tk = tokens[i];
    cpu::attention_decode_ref(q.data() + static_cast<size_t>(i) * n_heads * d, n_heads, c.view(), tk.seq->table,
                              tk.n_ctx, scale, ref.data() + static_cast<size_t>(i) * n_heads * d);
    starts.push_back(static_cast<int32_t>(tables.size()));
    tables.insert(tables.end(), tk.seq->table.begin(), tk.seq->table.end());
    n_ctx.push_back(tk.n_ctx);
    max_ctx = std::max(max_ctx, tk.n_ctx);
  }
  const DeviceCache dc{t.upload(c.k), t.upload(c.v)};
  DeviceBuffer dq = t.upload(q), dtables = t.upload(tables), dstarts = t.upload(starts), dctx = t.upload(n_ctx);
  const std::vector<float> poison(q.size(), std::numeric_limits<float>::quiet_NaN());
  DeviceBuffer dout = t.upload(poison);
  DecodeAttnArgs a;
  a.q = dq.as<float>();
  a.out = dout.as<float>();
  a.n_tokens = n_tokens;
  a.n_heads = n_heads;
  a.kv = dc.view(s);
  a.block_tables = dtables.as<int32_t>();
  a.table_start = dstarts.as<int32_t>();
  a.n_ctx = dctx.as<int32_t>();
  a.max_ctx = max_ctx;
  a.scale = scale;
  auto info = query_device(0);
  EXPECT_TRUE(info) << info.error().message();
  plans.insert(plans.begin(), plan_decode_for(a, info ? info->sm_count : 1));
  double worst = 0;
  for (const DecodePlan& plan : plans) {
    const std::string what = describe(s) + ", decode of " + std::to_string(n_tokens) + " tokens, " + plan_name(plan);
    const size_t ws_bytes = decode_workspace_bytes(plan, n_tokens, n_heads, d);
    DeviceBuffer ws;
    if (ws_bytes > 0) {
      auto b = t.alloc_->allocate(ws_bytes, "attention workspace");
      EXPECT_TRUE(b) << b.error().message();
      if (!b) return INFINITY;
      ws = std::move(*b);
    }
    const Status st = copy_to_device(dout.data(), poison.data(), poison.size() * sizeof(float), t.stream());
    EXPECT_TRUE(st) << st.error().message();
    EXPECT_EQ(attention_decode(a, plan, ws.data(), ws_bytes, t.stream()), cudaSuccess) << what;
    t.sync();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << what << ": a fault in the kernel";
    const std::vector<float> got = t.download<float>(dout, q.size());
    worst = std::max(worst, compare(c, q, got, ref, tokens, plan, scale, what));
    expect_single_key_rows_exact(c, got, tokens, what);
  }
  return worst;
}

std::vector<TokenInfo> one_token_per_seq(const Cache& c) {
  std::vector<TokenInfo> t;
  for (const Seq& s : c.seqs) t.push_back({&s, s.n_ctx});
  return t;
}

// Contexts 1, 17, 300, 2000 and two forks: of the 2000-token sequence (50 blocks shared,
// 211 own tokens) and of the 300-token one (its 18 full blocks shared, 5 own tokens).
const std::vector<int32_t> kContexts = {1, 17, 300, 2000};
const std::vector<Fork> kForks = {{3, 50, 211}, {2, 18, 5}};
// No split; 32-key splits (most of them empty for the short sequences); three splits of
// 96 (the last one takes the rest).
const std::vector<DecodePlan> kPlans = {{1, 0}, {63, 32}, {3, 96}};

class AttentionTypes : public GpuTest, public ::testing::WithParamInterface<DType> {};

TEST_P(AttentionTypes, DecodeBatchMatchesReference) {
  double worst = 0;
  for (int32_t d : {64, 128})
    for (int32_t group : {1, 4, 8}) {
      const Shape s{GetParam(), d, group, 2, 16};
      const Cache c = make_cache(s, kContexts, kForks, static_cast<uint32_t>(d * 10 + group));
      worst = std::max(worst, run_decode(*this, c, one_token_per_seq(c), kPlans, static_cast<uint32_t>(d + group)));
    }
  std::printf("%s decode: largest |gpu - cpu| %.3g\n", std::string(dtype_name(GetParam())).c_str(), worst);
}

// Prefill of a chunk of n_tokens at n_ctx0 (pos0 = n_ctx0 - 1) against the reference
// per token, and the decode kernel over the same chunk (one token per row of the batch,
// n_ctx = n_ctx0 + i, one shared table).
double run_prefill(GpuTest& t, const Shape& s, int32_t n_ctx0, int32_t n_tokens, uint32_t seed) {
  const Cache c = make_cache(s, {n_ctx0 + n_tokens - 1}, {}, seed);
  const int32_t n_heads = s.n_heads(), d = s.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  const std::vector<float> q = random_q(static_cast<size_t>(n_tokens) * n_heads * d, seed + 1);
  std::vector<float> ref(q.size());
  std::vector<TokenInfo> tokens;
  for (int32_t i = 0; i < n_tokens; ++i) {
    tokens.push_back({&c.seqs[0], n_ctx0 + i});
    cpu::attention_decode_ref(q.data() + static_cast<size_t>(i) * n_heads * d, n_heads, c.view(), c.seqs[0].table,
                              n_ctx0 + i, scale, ref.data() + static_cast<size_t>(i) * n_heads * d);
  }
  const DeviceCache dc{t.upload(c.k), t.upload(c.v)};
  DeviceBuffer dq = t.upload(q), dtable = t.upload(c.seqs[0].table);
  const std::vector<float> poison(q.size(), std::numeric_limits<float>::quiet_NaN());
  DeviceBuffer dout = t.upload(poison);
  PrefillAttnArgs a;
  a.q = dq.as<float>();
  a.out = dout.as<float>();
  a.n_tokens = n_tokens;
  a.n_heads = n_heads;
  a.kv = dc.view(s);
  a.block_table = dtable.as<int32_t>();
  a.n_ctx0 = n_ctx0;
  a.scale = scale;
  const std::string what = describe(s) + ", prefill of " + std::to_string(n_tokens) + " tokens at n_ctx0 " +
                           std::to_string(n_ctx0);
  EXPECT_EQ(attention_prefill(a, t.stream()), cudaSuccess) << what;
  t.sync();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << what << ": a fault in the kernel";
  const std::vector<float> got = t.download<float>(dout, q.size());
  double worst = compare(c, q, got, ref, tokens, DecodePlan{}, scale, what);
  expect_single_key_rows_exact(c, got, tokens, what);
  // The same chunk through the decode kernel (no split, and 32-key splits, the last
  // one taking the rest).
  worst = std::max(worst, run_decode(t, c, tokens, {{1, 0}, {8, 32}}, seed + 1));
  return worst;
}

TEST_P(AttentionTypes, PrefillChunkMatchesReference) {
  double worst = 0;
  for (int32_t d : {64, 128})
    for (int32_t group : {1, 4, 8}) {
      const Shape s{GetParam(), d, group, 2, 16};
      const auto seed = static_cast<uint32_t>(d * 7 + group);
      worst = std::max(worst, run_prefill(*this, s, 1, 1, seed));     // pos0 = 0, one token
      worst = std::max(worst, run_prefill(*this, s, 1, 45, seed));    // pos0 = 0
      worst = std::max(worst, run_prefill(*this, s, 301, 70, seed));  // pos0 = 300
    }
  if (GetParam() == DType::kF16) {
    worst = std::max(worst, run_prefill(*this, {DType::kF16, 128, 4, 8, 16}, 1, 300, 11));
    worst = std::max(worst, run_prefill(*this, {DType::kF16, 128, 4, 8, 16}, 700, 129, 12));
  }
  std::printf("%s prefill: largest |gpu - cpu| %.3g\n", std::string(dtype_name(GetParam())).c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Kv, AttentionTypes, ::testing::Values(DType::kF16, DType::kBF16, DType::kQ8_0, DType::kF32),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// Shapes off the common path: head dims not a multiple of 32 (8, 96, 136) and up to 256
// (two column blocks in decode, 4 rows per warp and > 48 KiB of shared memory in
// prefill), groups that do not fill the CTA (3, 5) or need several decode CTAs (12, 16)
// or prefill slices (33, 64), odd block sizes (1, 5, 7), one KV head.
TEST_F(GpuTest, AttentionDecodeOddShapes) {
  const Shape shapes[] = {{DType::kF16, 8, 2, 3, 7},    {DType::kF16, 32, 3, 1, 1},   {DType::kF16, 96, 12, 2, 5},
                          {DType::kF16, 256, 16, 1, 16}, {DType::kF16, 136, 5, 2, 64}, {DType::kF16, 256, 1, 4, 32},
                          {DType::kQ8_0, 256, 7, 1, 16}};
  double worst = 0;
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    const Cache c = make_cache(s, {1, 33, 700}, {{2, 64 / s.block_tokens, 40}}, seed++);
    worst = std::max(worst, run_decode(*this, c, one_token_per_seq(c), {{1, 0}, {3, 64}, {22, 32}}, seed++));
  }
  std::printf("odd shapes decode: largest |gpu - cpu| %.3g\n", worst);
}

TEST_F(GpuTest, AttentionPrefillOddShapes) {
  const Shape shapes[] = {{DType::kF16, 256, 4, 2, 16}, {DType::kBF16, 256, 8, 1, 16}, {DType::kF16, 8, 1, 1, 3},
                          {DType::kF16, 96, 7, 2, 5},   {DType::kF16, 128, 64, 1, 16}, {DType::kQ8_0, 256, 33, 1, 16},
                          {DType::kF16, 136, 3, 2, 7}};
  double worst = 0;
  uint32_t seed = 100;
  for (const Shape& s : shapes) {
    worst = std::max(worst, run_prefill(*this, s, 1, 37, seed++));
    worst = std::max(worst, run_prefill(*this, s, 50, 20, seed++));
  }
  std::printf("odd shapes prefill: largest |gpu - cpu| %.3g\n", worst);
}

// Arguments off the contract come back as cudaErrorInvalidValue before any launch, so
// this runs without a device (the pointers are never dereferenced).
TEST(AttentionLaunchers, RejectArgsOffTheContract) {
  auto* p16 = reinterpret_cast<float*>(uintptr_t{0x10000});
  const auto* i32 = reinterpret_cast<const int32_t*>(uintptr_t{0x20000});
  DecodeAttnArgs a;
  a.q = p16;
  a.out = p16;
  a.n_tokens = 2;
  a.n_heads = 8;
  a.kv = {p16, p16, DType::kF16, 2, 128, 16};
  a.block_tables = i32;
  a.table_start = i32;
  a.n_ctx = i32;
  a.max_ctx = 100;
  auto decode = [](DecodeAttnArgs x, DecodePlan p, void* ws = nullptr, size_t ws_bytes = 0) {
    return attention_decode(x, p, ws, ws_bytes, nullptr);
  };
  {
    DecodeAttnArgs b = a;
    b.n_tokens = 0;
    EXPECT_EQ(decode(b, {}), cudaSuccess);  // nothing to do
  }
  auto bad = [&](auto edit) {
    DecodeAttnArgs b = a;
    edit(b);
    return decode(b, {});
  };
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.kv.type = DType::kQ4_0; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.kv.head_dim = 100; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.kv.head_dim = 264; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.n_heads = 7; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.kv.block_tokens = 0; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.n_ctx = nullptr; }), cudaErrorInvalidValue);
  EXPECT_EQ(bad([](DecodeAttnArgs& b) { b.kv.k = reinterpret_cast<const char*>(b.kv.k) + 8; }), cudaErrorInvalidValue);
  EXPECT_EQ(decode(a, {0, 0}), cudaErrorInvalidValue);
  EXPECT_EQ(decode(a, {attn::kDecodeMaxSplits + 1, 32}), cudaErrorInvalidValue);
  EXPECT_EQ(decode(a, {4, 48}), cudaErrorInvalidValue);  // chunk not whole tiles
  EXPECT_EQ(decode(a, {4, 32}), cudaErrorInvalidValue);  // no workspace
  const size_t need = decode_workspace_bytes({4, 32}, 2, 8, 128);
  EXPECT_EQ(need, size_t{2} * 8 * 4 * (2 + 128) * sizeof(float));
  EXPECT_EQ(decode(a, {4, 32}, p16, need - 4), cudaErrorInvalidValue);  // too small

  PrefillAttnArgs pa;
  pa.q = p16;
  pa.out = p16;
  pa.n_tokens = 5;
  pa.n_heads = 8;
  pa.kv = {p16, p16, DType::kQ8_0, 2, 128, 16};
  pa.block_table = i32;
  pa.n_ctx0 = 0;  // must be >= 1
  EXPECT_EQ(attention_prefill(pa, nullptr), cudaErrorInvalidValue);
  pa.n_ctx0 = 1;
  pa.kv.head_dim = 72;  // q8_0: multiples of 32
  EXPECT_EQ(attention_prefill(pa, nullptr), cudaErrorInvalidValue);
  pa.kv.head_dim = 128;
  pa.n_tokens = 0;
  EXPECT_EQ(attention_prefill(pa, nullptr), cudaSuccess);
}

}  // namespace
}  // namespace tandem::gpu
