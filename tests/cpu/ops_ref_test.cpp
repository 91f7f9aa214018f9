#include "cpu/ops_ref.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace tandem::cpu {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(RmsNorm, MatchesFloat64) {
  for (int64_t n : {1, 7, 64, 255, 4096}) {
    auto x = randn(static_cast<size_t>(n), 1 + static_cast<uint32_t>(n));
    auto w = randn(static_cast<size_t>(n), 2 + static_cast<uint32_t>(n));
    std::vector<float> y(static_cast<size_t>(n));
    rms_norm_ref(x.data(), w.data(), y.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(y[size_t(i)], x[size_t(i)] * inv * w[size_t(i)], 1e-5 * (1 + std::fabs(x[size_t(i)] * inv * w[size_t(i)])))
          << "n=" << n << " i=" << i;
  }
}

// Independent f64 RoPE: theta_i = pos * scale * base^(-2i/n_rot) / factor_i.
void rope_f64(std::vector<double>& v, int heads, int hd, int pos, const RopeParams& p) {
  const int half = p.n_rot / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i) {
      double th = pos * double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / p.n_rot);
      if (p.freq_factors) th /= p.freq_factors[i];
      const int a = p.style == RopeStyle::kNormal ? 2 * i : i;
      const int b = p.style == RopeStyle::kNormal ? 2 * i + 1 : i + half;
      double* x = v.data() + h * hd;
      const double x0 = x[a], x1 = x[b];
      x[a] = x0 * std::cos(th) - x1 * std::sin(th);
      x[b] = x0 * std::sin(th) + x1 * std::cos(th);
    }
}

TEST(Rope, NormalAndNeoxMatchFloat64) {
  std::vector<float> factors(32);
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.f + float(i) * 0.25f;
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox})
    for (int pos : {0, 1, 17, 1000})
      for (bool use_factors : {false, true}) {
        RopeParams p;
        p.n_rot = 64;
        p.freq_base = 500000.f;
        p.style = style;
        p.freq_scale = use_factors ? 1.f : 0.5f;
        p.freq_factors = use_factors ? factors.data() : nullptr;
        auto x = randn(3 * 64, 11);
        std::vector<double> ref(x.begin(), x.end());
        rope_ref(x.data(), 3, 64, pos, p);
        rope_f64(ref, 3, 64, pos, p);
        for (size_t i = 0; i < x.size(); ++i)
          ASSERT_NEAR(x[i], ref[i], 2e-4) << "style=" << int(style) << " pos=" << pos << " i=" << i;
      }
}

TEST(Rope, PartialRotationLeavesTailAlone) {
  RopeParams p;
  p.n_rot = 32;
  auto x = randn(2 * 64, 5);
  auto orig = x;
  rope_ref(x.data(), 2, 64, 9, p);
  for (int h = 0; h < 2; ++h)
    for (int i = 32; i < 64; ++i) EXPECT_EQ(x[size_t(h * 64 + i)], orig[size_t(h * 64 + i)]);
}

TEST(Softmax, SumsToOneAndMatchesFloat64) {
  auto x = randn(1001, 3, 4.f);
  std::vector<double> e(x.size());
  const double mx = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += e[i] = std::exp(x[i] - mx);
  softmax_ref(x.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], e[i] / s, 1e-6);
}

// Paged attention against a dense float64 reference, with shuffled, partly filled
// block tables and GQA.
struct AttnCase {
  int heads, kv_heads, hd, block, n_ctx;
  DType type;
};

TEST(AttentionDecode, PagedMatchesDenseFloat64) {
  for (AttnCase c : {AttnCase{4, 2, 64, 16, 1, DType::kF32}, AttnCase{4, 2, 64, 16, 37, DType::kF32},
                     AttnCase{8, 1, 32, 4, 50, DType::kF16}, AttnCase{6, 3, 16, 7, 64, DType::kBF16},
                     AttnCase{2, 2, 8, 1, 9, DType::kF32}}) {
    const int n_blocks_seq = (c.n_ctx + c.block - 1) / c.block;
    const int n_blocks = n_blocks_seq * 2 + 3;  // pool larger than the sequence
    std::vector<int32_t> all(static_cast<size_t>(n_blocks));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), std::mt19937(c.n_ctx));
    std::vector<int32_t> table(all.begin(), all.begin() + n_blocks_seq);
    const size_t elem = c.type == DType::kF32 ? 4 : 2;
    const size_t pool_elems = size_t(n_blocks) * c.kv_heads * c.block * c.hd;
    std::vector<std::byte> kpool(pool_elems * elem), vpool(pool_elems * elem);
    auto kd = randn(size_t(c.n_ctx) * c.kv_heads * c.hd, 21, 2.f);
    auto vd = randn(size_t(c.n_ctx) * c.kv_heads * c.hd, 22);
    std::vector<float> kq(kd.size()), vq(vd.size());  // what the pool holds after rounding
    for (int t = 0; t < c.n_ctx; ++t)
      for (int h = 0; h < c.kv_heads; ++h) {
        const int64_t row = (int64_t(table[size_t(t / c.block)]) * c.kv_heads + h) * c.block + t % c.block;
        const size_t off = (size_t(t) * c.kv_heads + h) * c.hd;
        store_kv_row(kpool.data(), c.type, row, c.hd, kd.data() + off);
        store_kv_row(vpool.data(), c.type, row, c.hd, vd.data() + off);
        load_kv_row(kpool.data(), c.type, row, c.hd, kq.data() + off);
        load_kv_row(vpool.data(), c.type, row, c.hd, vq.data() + off);
      }
    auto q = randn(size_t(c.heads) * c.hd, 23);
    std::vector<float> out(q.size());
    const float scale = 1.f / std::sqrt(float(c.hd));
    PagedKv kv{kpool.data(), vpool.data(), c.type, c.kv_heads, c.hd, c.block};
    attention_decode_ref(q.data(), c.heads, kv, table, c.n_ctx, scale, out.data());
    for (int h = 0; h < c.heads; ++h) {
      const int kvh = h / (c.heads / c.kv_heads);
      std::vector<double> s(size_t(c.n_ctx));
      double mx = -1e300;
      for (int t = 0; t < c.n_ctx; ++t) {
        double dot = 0;
        for (int i = 0; i < c.hd; ++i)
          dot += double(q[size_t(h * c.hd + i)]) * kq[(size_t(t) * c.kv_heads + kvh) * c.hd + size_t(i)];
        s[size_t(t)] = dot * scale;
        mx = std::max(mx, s[size_t(t)]);
      }
      double sum = 0;
      for (double& v : s) sum += v = std::exp(v - mx);
      for (int i = 0; i < c.hd; ++i) {
        double o = 0;
        for (int t = 0; t < c.n_ctx; ++t) o += s[size_t(t)] / sum * vq[(size_t(t) * c.kv_heads + kvh) * c.hd + size_t(i)];
        ASSERT_NEAR(out[size_t(h * c.hd + i)], o, 1e-5 * (1 + std::fabs(o)))
            << "heads=" << c.heads << " kv=" << c.kv_heads << " ctx=" << c.n_ctx << " h=" << h << " i=" << i;
      }
    }
  }
}

}  // namespace
}  // namespace tandem::cpu
