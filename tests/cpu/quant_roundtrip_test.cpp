// quantize -> dequantize round trips on Gaussian rows of 1, 3 and 7 blocks, with a
// stated bound on the relative RMS error ||deq(q(x)) - x|| / ||x|| per type, plus a
// few weight-quantizer outputs worked out by hand.
//
// Bounds: measured over 9000 rows N(0, 1) (3000 seeds x {1, 3, 7} blocks): the worst
// row (always a 1-block row: short rows have the heavy tail) and the mean, then set
// with margin:
//   type   worst   mean    | max_rel_rms  mean_rel_rms
//   f16    0.00030 0.00021 | 0.0004       0.00025
//   bf16   0.0025  0.0017  | 0.003        0.0019
//   q4_0   0.152   0.085   | 0.18         0.095
//   q4_1   0.125   0.078   | 0.15         0.087
//   q5_0   0.071   0.042   | 0.085        0.047
//   q5_1   0.058   0.038   | 0.07         0.042
//   q8_0   0.0094  0.0053  | 0.012        0.006
//   q8_1   0.0094  0.0053  | 0.012        0.006
//   q4_K   0.084   0.071   | 0.10         0.078
//   q5_K   0.044   0.036   | 0.052        0.04
//   q6_K   0.0215  0.0177  | 0.026        0.0195
//   q8_K   0.0107  0.0069  | 0.013        0.0077
//   q2_K   0.359   0.296   | 0.40         0.32
//   q3_K   0.178   0.151   | 0.20         0.16
//
// Q2_K and Q3_K mean bounds from the format. A plain grid of step D per sub-block of 16
// has RMS error D / sqrt(12) per element (errors uniform over a step). Q2_K's plain grid
// spans [min(x, 0), max(x)] with 4 levels: D = R / 3, E[R^2] = 13.03 for 16 N(0, 1)
// samples, so E[err^2] = 13.03 / 9 / 12 and the relative RMS error is 0.347; the scale/
// min search must beat that grid (bound 0.32, below it). Q3_K's grid maps the largest
// |x| to -4: D = M / 4, E[M^2] = 4.55 for the largest of 16 |N(0, 1)|, giving 0.154
// (the x^2-weighted sweeps trade small values' error for large ones', so the measured
// mean sits at the estimate; bound 0.16). E[R^2] and E[M^2] by integration over the
// normal distribution; the same estimate for Q4_K (R / 15, 32 samples) gives 0.081
// against its measured 0.071. The 4-/6-bit scales and f16 super-block scales add well
// under 1% (relative scale error <= 1/30 on the smallest sub-blocks only).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "cpu/quant_ref.h"
#include "cpu/quant_ref_kernels.h"
#include "quant_test_util.h"

namespace tandem {
namespace {

using testing::gaussian_row;
using testing::quantize_dequantize;
using testing::rel_rms;
using testing::RowBuf;

struct Bound {
  DType type;
  double max_rel_rms;   // every row
  double mean_rel_rms;  // mean over the rows tried
};

constexpr Bound kBounds[] = {
    {DType::kF16, 0.0004, 0.00025}, {DType::kBF16, 0.003, 0.0019}, {DType::kQ4_0, 0.18, 0.095},
    {DType::kQ4_1, 0.15, 0.087},    {DType::kQ5_0, 0.085, 0.047},  {DType::kQ5_1, 0.07, 0.042},
    {DType::kQ8_0, 0.012, 0.006},   {DType::kQ8_1, 0.012, 0.006},  {DType::kQ4_K, 0.10, 0.078},
    {DType::kQ5_K, 0.052, 0.04},    {DType::kQ6_K, 0.026, 0.0195}, {DType::kQ8_K, 0.013, 0.0077},
    {DType::kQ2_K, 0.40, 0.32},     {DType::kQ3_K, 0.20, 0.16},
};

int64_t block_elems(DType t) {
  const int64_t be = traits(t).block_elems;
  return be == 1 ? 32 : be;
}

TEST(QuantRoundTrip, GaussianRowsWithinBound) {
  for (const Bound& b : kBounds) {
    double sum = 0;
    int rows = 0;
    for (int64_t blocks : {1, 3, 7}) {
      const int64_t n = blocks * block_elems(b.type);
      for (uint32_t seed = 1; seed <= 40; ++seed) {
        const std::vector<float> x = gaussian_row(n, seed * 101 + static_cast<uint32_t>(blocks));
        const double e = rel_rms(quantize_dequantize(b.type, x), x);
        EXPECT_LE(e, b.max_rel_rms) << dtype_name(b.type) << " n=" << n << " seed=" << seed;
        sum += e;
        ++rows;
      }
    }
    std::printf("  %-5s mean relative RMS error %.5f over %d rows (bound %.5f)\n",
                std::string(dtype_name(b.type)).c_str(), sum / rows, rows, b.mean_rel_rms);
    EXPECT_LE(sum / rows, b.mean_rel_rms) << dtype_name(b.type) << ": mean relative RMS error over "
                                          << rows << " rows";
  }
}

// Scale does not matter: the same bound holds for rows of tiny and large magnitude
// (f16 scales cover 6e-5 .. 65504, so stay well inside).
TEST(QuantRoundTrip, ScaleInvariant) {
  for (const Bound& b : kBounds) {
    for (float sigma : {0.02f, 30.0f}) {
      const int64_t n = 3 * block_elems(b.type);
      const std::vector<float> x = gaussian_row(n, 77, sigma);
      EXPECT_LE(rel_rms(quantize_dequantize(b.type, x), x), b.max_rel_rms)
          << dtype_name(b.type) << " n=" << n << " sigma=" << sigma;
    }
  }
}

TEST(QuantRoundTrip, ZeroRowStaysZero) {
  for (const Bound& b : kBounds) {
    const int64_t n = 3 * block_elems(b.type);
    const std::vector<float> x(static_cast<size_t>(n), 0.0f);
    const std::vector<float> y = quantize_dequantize(b.type, x);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.0f) << dtype_name(b.type) << " n=" << n << " i=" << i;
  }
}

// A K-quant super-block where one sub-block is zero and another is constant: the fit's
// degenerate cases (max == min) must not produce NaN or garbage.
TEST(QuantRoundTrip, KQuantDegenerateSubBlocks) {
  for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::vector<float> x = gaussian_row(256, 5);
    for (int i = 0; i < 32; ++i) x[i] = 0.0f;
    for (int i = 64; i < 96; ++i) x[i] = 0.75f;
    const std::vector<float> y = quantize_dequantize(t, x);
    EXPECT_LE(rel_rms(y, x), 0.1) << dtype_name(t);
    for (int i = 0; i < 32; ++i) EXPECT_NEAR(y[i], 0.0f, 0.05f) << dtype_name(t) << " i=" << i;
  }
}

// The same for the 16-element sub-blocks of Q2_K and Q3_K: an all-zero sub-block
// stays zero, a constant one comes back within its type's round-trip bound.
TEST(QuantRoundTrip, K23DegenerateSubBlocks) {
  for (const Bound& b : kBounds) {
    if (b.type != DType::kQ2_K && b.type != DType::kQ3_K) continue;
    std::vector<float> x = gaussian_row(256, 5);
    for (int i = 0; i < 16; ++i) x[i] = 0.0f;
    for (int i = 64; i < 80; ++i) x[i] = 0.75f;
    for (int i = 80; i < 96; ++i) x[i] = -0.5f;
    const std::vector<float> y = quantize_dequantize(b.type, x);
    EXPECT_LE(rel_rms(y, x), b.max_rel_rms) << dtype_name(b.type);
    for (int i = 0; i < 16; ++i) EXPECT_EQ(y[i], 0.0f) << dtype_name(b.type) << " i=" << i;
    for (float v : y) ASSERT_TRUE(std::isfinite(v)) << dtype_name(b.type);
  }
}

// ---- weight quantizers on values worked out by hand -------------------------------

TEST(QuantWeightsByHand, Q4_0) {
  // Block: x[e] = e - 16 for e < 32, so the largest magnitude is x[0] = -16: d = -16/-8 = 2,
  // q = min(15, trunc(x/2 + 8.5)).
  std::vector<float> x(32);
  for (int e = 0; e < 32; ++e) x[e] = static_cast<float>(e - 16);
  BlockQ4_0 b;
  cpu::quantize_q4_0_ref(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_f32(b.d), 2.0f);
  // e = 0: -8 + 8.5 = 0.5 -> 0; e = 1: -7.5 + 8.5 = 1 -> 1; e = 3: -6.5 + 8.5 = 2 -> 2;
  // e = 16: 0 + 8.5 -> 8; e = 31: 7.5 + 8.5 = 16 -> clamped to 15.
  EXPECT_EQ(b.qs[0] & 15, 0);
  EXPECT_EQ(b.qs[1] & 15, 1);
  EXPECT_EQ(b.qs[3] & 15, 2);
  EXPECT_EQ(b.qs[0] >> 4, 8);
  EXPECT_EQ(b.qs[15] >> 4, 15);
}

TEST(QuantWeightsByHand, Q4_1AndQ5_1) {
  // Min -1, max 14: Q4_1 d = 1, m = -1, q = x + 1. Q5_1 d = 15/31.
  std::vector<float> x(32);
  for (int e = 0; e < 32; ++e) x[e] = static_cast<float>(e % 16) - 1.0f;
  BlockQ4_1 b4;
  cpu::quantize_q4_1_ref(x.data(), &b4, 32);
  EXPECT_EQ(fp16_to_f32(b4.d), 1.0f);
  EXPECT_EQ(fp16_to_f32(b4.m), -1.0f);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(b4.qs[j] & 15, j) << "element " << j;
    EXPECT_EQ(b4.qs[j] >> 4, j) << "element " << j + 16;
  }
  BlockQ5_1 b5;
  cpu::quantize_q5_1_ref(x.data(), &b5, 32);
  EXPECT_EQ(b5.d, f32_to_fp16(15.0f / 31.0f));
  EXPECT_EQ(fp16_to_f32(b5.m), -1.0f);
  // Element 15 (x = 14): (15) * 31/15 + 0.5 = 31.5 -> 31 = 0b11111: nibble 15, qh bit 15.
  EXPECT_EQ(b5.qs[15] & 15, 15);
  EXPECT_EQ((b5.qh[1] >> 7) & 1, 1);
  // Element 0 (x = -1) -> 0, qh bit 0 clear.
  EXPECT_EQ(b5.qs[0] & 15, 0);
  EXPECT_EQ(b5.qh[0] & 1, 0);
}

TEST(QuantWeightsByHand, Q5_0) {
  // Largest magnitude +32 at element 31: d = 32/-16 = -2, q = min(31, trunc(x/-2 + 16.5)).
  std::vector<float> x(32, 0.0f);
  x[31] = 32.0f;
  x[0] = -31.0f;  // 15.5 + 16.5 = 32 -> clamped to 31
  x[1] = 3.0f;    // -1.5 + 16.5 = 15
  BlockQ5_0 b;
  cpu::quantize_q5_0_ref(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_f32(b.d), -2.0f);
  EXPECT_EQ(b.qs[15] >> 4, 0);   // element 31: -16 + 16.5 -> 0
  EXPECT_EQ((b.qh[3] >> 7) & 1, 0);
  EXPECT_EQ(b.qs[0] & 15, 15);   // element 0: 31
  EXPECT_EQ(b.qh[0] & 1, 1);
  EXPECT_EQ(b.qs[1] & 15, 15);   // element 1: 15
  EXPECT_EQ((b.qh[0] >> 1) & 1, 0);
  EXPECT_EQ(b.qs[2] & 15, 0);    // element 2 (x = 0): 16 = 0b10000
  EXPECT_EQ((b.qh[0] >> 2) & 1, 1);
}

// Q2_K rows on an exact grid: sub-block s holds x = scale_s / 16 * q - min_s / 32 with
// every q in 0..3 present, scale_s in 1..15 (15 in sub-block 0) and min_s in 0..15 (15
// in sub-block 1). The fit recovers each grid, so d = 15/16 / 15 = 1/16, dmin = 1/32,
// the 4-bit scales and mins are scale_s and min_s, and the values come back exactly.
TEST(QuantWeightsByHand, Q2_KExactGrid) {
  std::vector<float> x(256);
  std::array<int, 16> sc{}, mn{};
  std::vector<int> q(256);
  for (int s = 0; s < 16; ++s) {
    sc[s] = s == 0 ? 15 : 1 + (s * 7) % 15;
    mn[s] = s == 1 ? 15 : (s * 5) % 16;
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * s + l;
      q[e] = l < 4 ? l : (e * 3 + e / 7) % 4;  // 0, 1, 2, 3 first: the grid's ends are present
      x[e] = static_cast<float>(sc[s]) / 16 * static_cast<float>(q[e]) - static_cast<float>(mn[s]) / 32;
    }
  }
  BlockQ2_K b;
  cpu::quantize_q2_k_ref(x.data(), &b, 256);
  EXPECT_EQ(fp16_to_f32(b.d), 1.0f / 16);
  EXPECT_EQ(fp16_to_f32(b.dmin), 1.0f / 32);
  for (int s = 0; s < 16; ++s) {
    EXPECT_EQ(b.scales[s] & 15, sc[s]) << "sub-block " << s;
    EXPECT_EQ(b.scales[s] >> 4, mn[s]) << "sub-block " << s;
  }
  // Element 130 (half 1, k = 0, l = 2): q = 2 in bits 0-1 of qs[34].
  EXPECT_EQ(b.qs[34] & 3, q[130]);
  std::vector<float> y(256);
  cpu::dequantize_q2_k_ref(&b, y.data(), 256);
  for (int e = 0; e < 256; ++e) ASSERT_EQ(y[e], x[e]) << "element " << e;
}

// Q3_K rows on an exact grid: x = scale_s / 8 * q with q in -4..3 (-4 present in every
// sub-block, so it holds the largest magnitude) and scale_s in -32..31, -32 in
// sub-block 0 (the largest |scale|: d = -(-4) / 32 = 1/8), 0 in sub-block 2 (all zero).
TEST(QuantWeightsByHand, Q3_KExactGrid) {
  constexpr std::array<int, 16> sc = {-32, 31, 0, 1, -1, 17, -17, 5, -5, 30, -30, 8, -8, 2, -2, 16};
  std::vector<float> x(256);
  std::vector<int> q(256);
  for (int e = 0; e < 256; ++e) {
    q[e] = e % 16 == 0 ? -4 : (e * 5 + e / 7) % 8 - 4;
    x[e] = static_cast<float>(sc[e / 16]) / 8 * static_cast<float>(q[e]);
  }
  BlockQ3_K b;
  cpu::quantize_q3_k_ref(x.data(), &b, 256);
  EXPECT_EQ(fp16_to_f32(b.d), 0.125f);
  for (int s = 0; s < 16; ++s) EXPECT_EQ(cpu::q3k_scale(s, b.scales), sc[s]) << "sub-block " << s;
  // Element 17: q = 87 % 8 - 4 = 3 = 7 - 4: low bits 3 in qs[17] bits 0-1, third bit in
  // hmask[17] bit 0. Element 0: q = -4: low bits 0, third bit clear.
  EXPECT_EQ(b.qs[17] & 3, 3);
  EXPECT_EQ(b.hmask[17] & 1, 1);
  EXPECT_EQ(b.qs[0] & 3, 0);
  EXPECT_EQ(b.hmask[0] & 1, 0);
  std::vector<float> y(256);
  cpu::dequantize_q3_k_ref(&b, y.data(), 256);
  for (int e = 0; e < 256; ++e) ASSERT_EQ(y[e], x[e]) << "element " << e;
}

}  // namespace
}  // namespace tandem
