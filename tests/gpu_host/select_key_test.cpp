// The GPU argmax / top-k arithmetic (gpu/cuda/select_key.h), compiled here as plain C++:
//  - the order key sorts floats as < does (-0 == +0), across every special value;
//  - host models of both kernels, built from these functions the way the kernels use
//    them (a u64 max of packed keys; 4 radix passes with the one-warp digit pick
//    simulated lane by lane, the ordered gather, the rank sort), equal a plain CPU loop
//    with the CPU sampler's rules (engine/sampler.cpp) on random logits with ties,
//    -inf, NaN, +inf, FLT_MAX and signed zeros, n_vocab 1, 7, 65, 1000 and 128256.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu/cuda/select_key.h"

namespace tandem::gpu::select {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- CPU loops with the sampler's rules -------------------------------------------

// sampling::argmax: strict >, so the first of equals stays and NaN never wins.
int32_t cpu_argmax(const std::vector<float>& v) {
  size_t best = 0;
  float best_v = -kInf;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] > best_v) {
      best_v = v[i];
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

// Sampler::sample's candidates (sanitize: NaN -> -inf, +inf -> FLT_MAX), then
// sampling::sort_top's order: logit descending, ties by ascending id.
std::vector<int32_t> cpu_top_k(const std::vector<float>& v, int k) {
  std::vector<std::pair<float, int32_t>> c;
  for (size_t i = 0; i < v.size(); ++i) {
    float l = v[i];
    if (std::isnan(l)) l = -kInf;
    if (l == kInf) l = FLT_MAX;
    c.emplace_back(l, static_cast<int32_t>(i));
  }
  std::partial_sort(c.begin(), c.begin() + k, c.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  std::vector<int32_t> ids;
  for (int i = 0; i < k; ++i) ids.push_back(c[static_cast<size_t>(i)].second);
  return ids;
}

// ---- host models of the kernels ------------------------------------------------------

int32_t model_argmax(const std::vector<float>& v) {
  uint64_t best = 0;
  for (size_t i = 0; i < v.size(); ++i)
    best = std::max(best, argmax_pack(argmax_key(v[i]), static_cast<uint32_t>(i)));
  return static_cast<int32_t>(argmax_index(best));
}

std::vector<int32_t> model_top_k(const std::vector<float>& v, int k) {
  const int64_t n = static_cast<int64_t>(v.size());
  uint32_t prefix = 0, remaining = static_cast<uint32_t>(k);
  for (int pass = 0; pass < kPasses; ++pass) {
    uint32_t hist[kBins] = {};
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t key = topk_key(v[i]);
      if (matches_prefix(key, prefix, pass)) ++hist[digit_of(key, pass)];
    }
    uint32_t above = 0;  // the warp's exclusive scan, lane by lane
    int found = 0;
    DigitPick pick;
    for (int lane = 0; lane < 32; ++lane) {
      DigitPick p;
      if (lane_pick(hist, lane, above, remaining, &p)) {
        ++found;
        pick = p;
      }
      above += lane_count(hist, lane);
    }
    EXPECT_EQ(found, 1) << "pass " << pass << ": lanes holding the digit";
    EXPECT_GE(pick.remaining, 1u);
    EXPECT_LE(pick.remaining, hist[pick.digit]);
    prefix |= pick.digit << digit_shift(pass);
    remaining = pick.remaining;
  }
  const uint32_t threshold = prefix, need_eq = remaining, n_gt = static_cast<uint32_t>(k) - remaining;
  std::vector<int32_t> cand(static_cast<size_t>(k), -1);
  uint32_t gt = 0, eq = 0;
  for (int64_t i = 0; i < n; ++i) {  // index order, as the ballot scans give
    const uint32_t key = topk_key(v[i]);
    if (key > threshold) {
      EXPECT_LT(gt, n_gt) << "more keys above the threshold than the select counted";
      if (gt < n_gt) cand[gt] = static_cast<int32_t>(i);
      ++gt;
    } else if (key == threshold) {
      if (eq < need_eq) cand[n_gt + eq] = static_cast<int32_t>(i);
      ++eq;
    }
  }
  EXPECT_EQ(gt, n_gt);
  EXPECT_GE(eq, need_eq);
  std::vector<int32_t> out(static_cast<size_t>(k), -1);
  for (int t = 0; t < k; ++t) {
    const int32_t id = cand[t];
    int rank = 0;
    for (int j = 0; j < k; ++j) rank += ranks_before(topk_key(v[cand[j]]), cand[j], topk_key(v[id]), id) ? 1 : 0;
    out[rank] = id;
  }
  return out;
}

// ---- inputs ----------------------------------------------------------------------------

// Logits of kind: 0 normal; 1 coarse (many ties); 2 all equal; 3 normal with -inf, NaN,
// +inf, FLT_MAX, -0 and +0 sprinkled in; 4 only -inf and NaN; 5 NaN and a few finite;
// 6 only signed zeros and -inf.
std::vector<float> make_logits(int kind, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 3.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float z = normal(rng);
    const uint64_t r = rng() % 16;
    switch (kind) {
      case 0: v[i] = z; break;
      case 1: v[i] = std::round(z); break;
      case 2: v[i] = 1.5f; break;
      case 3: {
        const float special[] = {-kInf, kNaN, kInf, FLT_MAX, -0.f, 0.f, -FLT_MAX, z};
        v[i] = r < 8 ? special[r] : z;
        break;
      }
      case 4: v[i] = r < 8 ? -kInf : kNaN; break;
      case 5: v[i] = r < 14 ? kNaN : std::round(z); break;
      default: v[i] = r < 6 ? -0.f : (r < 12 ? 0.f : -kInf); break;
    }
  }
  return v;
}

constexpr int kKinds = 7;

// ---- tests -----------------------------------------------------------------------------

TEST(SelectKey, OrderKeySortsLikeFloats) {
  const std::vector<float> ascending = {-kInf, -FLT_MAX, -1e30f, -1.f, -FLT_MIN, -1e-45f, 0.f,
                                        1e-45f, FLT_MIN, 1.f, 1e30f, FLT_MAX, kInf};
  for (size_t i = 0; i + 1 < ascending.size(); ++i)
    EXPECT_LT(order_key(ascending[i]), order_key(ascending[i + 1])) << ascending[i] << " < " << ascending[i + 1];
  EXPECT_EQ(order_key(-0.f), order_key(0.f));
  EXPECT_EQ(order_key(-kInf), kKeyMinusInf);
  EXPECT_EQ(argmax_key(kNaN), kKeyMinusInf);
  EXPECT_EQ(argmax_key(-kNaN), kKeyMinusInf);
  EXPECT_GT(argmax_key(kInf), argmax_key(FLT_MAX));
  EXPECT_EQ(topk_key(kInf), topk_key(FLT_MAX));
  EXPECT_EQ(topk_key(kNaN), topk_key(-kInf));
  EXPECT_EQ(topk_sanitize(kInf), FLT_MAX);
  EXPECT_EQ(topk_sanitize(kNaN), -kInf);
  EXPECT_TRUE(std::signbit(topk_sanitize(-0.f)));  // as the sampler keeps it

  std::mt19937_64 rng(5);
  for (int i = 0; i < 200000; ++i) {
    const float a = bits_float(static_cast<uint32_t>(rng())), b = bits_float(static_cast<uint32_t>(rng()));
    if (std::isnan(a) || std::isnan(b)) continue;
    ASSERT_EQ(order_key(a) < order_key(b), a < b) << a << " " << b;
    ASSERT_EQ(order_key(a) == order_key(b), a == b) << a << " " << b;
  }
}

TEST(SelectKey, PackedArgmaxPrefersLargerKeyThenLowerIndex) {
  EXPECT_GT(argmax_pack(5, 0), argmax_pack(4, 0));
  EXPECT_GT(argmax_pack(5, 0), argmax_pack(4, 0xfffffffe));
  EXPECT_GT(argmax_pack(5, 3), argmax_pack(5, 4));
  EXPECT_GT(argmax_pack(kKeyMinusInf, 0x7ffffffe), uint64_t{0});  // the kernel's start value loses
  for (uint32_t i : {0u, 1u, 128255u, 0x7ffffffeu}) EXPECT_EQ(argmax_index(argmax_pack(123, i)), i);
}

TEST(SelectKey, ArgmaxModelMatchesTheSamplerLoop) {
  for (int64_t n : {1, 2, 7, 65, 1000, 128256}) {
    for (int kind = 0; kind < kKinds; ++kind) {
      for (uint64_t seed = 0; seed < 3; ++seed) {
        const auto v = make_logits(kind, n, seed * 1000 + static_cast<uint64_t>(n) + kind);
        ASSERT_EQ(model_argmax(v), cpu_argmax(v)) << "n " << n << " kind " << kind << " seed " << seed;
      }
    }
  }
  // The rules one at a time.
  EXPECT_EQ(model_argmax({kNaN, -kInf}), 0);
  EXPECT_EQ(model_argmax({-kInf, kNaN}), 0);
  EXPECT_EQ(model_argmax({kNaN, kNaN, -3.f}), 2);
  EXPECT_EQ(model_argmax({-0.f, 0.f}), 0);
  EXPECT_EQ(model_argmax({0.f, -0.f}), 0);
  EXPECT_EQ(model_argmax({FLT_MAX, kInf, kInf}), 1);
  EXPECT_EQ(model_argmax({1.f, 2.f, 2.f, 1.f}), 1);
}

TEST(SelectKey, TopKModelMatchesTheSamplerOrder) {
  for (int64_t n : {1, 7, 65, 1000, 128256}) {
    for (int kind = 0; kind < kKinds; ++kind) {
      for (int k : {1, 2, 7, 40, 64}) {
        if (k > n) continue;
        const auto v = make_logits(kind, n, static_cast<uint64_t>(n) * 7 + kind * 13 + k);
        const auto want = cpu_top_k(v, k);
        const auto got = model_top_k(v, k);
        ASSERT_EQ(got, want) << "n " << n << " kind " << kind << " k " << k;
      }
    }
  }
  EXPECT_EQ(model_top_k({-0.f, 0.f, -0.f}, 2), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(model_top_k({kNaN, -kInf, 1.f, kInf, FLT_MAX}, 5), (std::vector<int32_t>{3, 4, 2, 0, 1}));
}

TEST(SelectKey, LanePickFindsTheBinWhereTheCountReachesRemaining) {
  uint32_t hist[kBins] = {};
  hist[255] = 3;  // lane 0
  hist[200] = 2;  // lane 6 (bins 207..200)
  hist[7] = 10;   // lane 31 (bins 7..0)
  const auto pick = [&](uint32_t remaining) {
    uint32_t above = 0;
    DigitPick p{999, 999};
    for (int lane = 0; lane < 32; ++lane) {
      DigitPick q;
      if (lane_pick(hist, lane, above, remaining, &q)) p = q;
      above += lane_count(hist, lane);
    }
    return p;
  };
  EXPECT_EQ(pick(1).digit, 255u);
  EXPECT_EQ(pick(3).digit, 255u);
  EXPECT_EQ(pick(3).remaining, 3u);
  EXPECT_EQ(pick(4).digit, 200u);
  EXPECT_EQ(pick(4).remaining, 1u);
  EXPECT_EQ(pick(5).remaining, 2u);
  EXPECT_EQ(pick(6).digit, 7u);
  EXPECT_EQ(pick(15).remaining, 10u);
  for (int lane = 0; lane < 32; ++lane)
    for (int j = 0; j < kBinsPerLane; ++j) EXPECT_EQ(lane_bin(lane, j), 255 - 8 * lane - j);
}

TEST(SelectKey, RadixDigitsCoverTheKey) {
  EXPECT_EQ(prefix_mask(0), 0u);
  EXPECT_EQ(prefix_mask(1), 0xff000000u);
  EXPECT_EQ(prefix_mask(3), 0xffffff00u);
  const uint32_t key = 0xa1b2c3d4u;
  uint32_t rebuilt = 0;
  for (int pass = 0; pass < kPasses; ++pass) rebuilt |= digit_of(key, pass) << digit_shift(pass);
  EXPECT_EQ(rebuilt, key);
  EXPECT_TRUE(matches_prefix(key, 0xa1b20000u, 2));
  EXPECT_FALSE(matches_prefix(key, 0xa1b30000u, 2));
}

TEST(SelectKey, ShapeContract) {
  EXPECT_TRUE(select_shape_ok(0, 1, 1));
  EXPECT_TRUE(select_shape_ok(512, 128256, 64));
  EXPECT_TRUE(select_shape_ok(1, 7, 7));
  EXPECT_FALSE(select_shape_ok(1, 7, 8));     // k > n_vocab
  EXPECT_FALSE(select_shape_ok(1, 1000, 65)); // k > kMaxK
  EXPECT_FALSE(select_shape_ok(1, 1000, 0));
  EXPECT_FALSE(select_shape_ok(1, 0, 1));
  EXPECT_FALSE(select_shape_ok(-1, 10, 1));
  EXPECT_FALSE(select_shape_ok(1, int64_t{1} << 31, 1));
  EXPECT_FALSE(select_shape_ok(int64_t{1} << 31, 10, 1));
}

}  // namespace
}  // namespace tandem::gpu::select
