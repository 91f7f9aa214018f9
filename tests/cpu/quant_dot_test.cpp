// Dot products and GEMV of the reference kernels.
//
// 1. vec_dot_ref(w, quantize_activation(x)) against a float64 dot of dequantize(w) and
//    dequantize(quantize_activation(x)): only f32 rounding of the block sums separates
//    them, so they agree to kDotVsDequantTol relative to sum |terms|. (Q8_1 activations
//    carry s = f16(d * sum q); GGML's Q4_1/Q5_1 dot uses that stored s for the min term,
//    and so does the float64 reference here.)
// 2. Against the float64 dot with the unquantized x: within a per-type budget B,
//    |dot - exact| <= B * sum |w_i x_i| / sqrt(blocks) (independent rounding errors
//    grow like sqrt(n) while sum |terms| grows like n). Measured over 9000 random cases
//    (N(0,1) weights and activations, 3000 seeds x {1, 3, 7} blocks), the worst
//    err * sqrt(blocks) / sum|terms| was nearly the same for 1, 3 and 7 blocks; B is
//    that worst with margin:
//      f32 2.9e-7 -> 1e-6   f16 3.4e-4 -> 5e-4   bf16 2.7e-3 -> 4e-3
//      q4_0 0.093 -> 0.13   q4_1 0.093 -> 0.12   q5_0 0.055 -> 0.075  q5_1 0.050 -> 0.07
//      q8_0 0.0088 -> 0.012 q4_K 0.028 -> 0.04   q5_K 0.0144 -> 0.02  q6_K 0.0070 -> 0.01
//      q8_K 0.0037 -> 0.0055  q2_K 0.111 -> 0.15   q3_K 0.059 -> 0.08
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/fp16.h"
#include "cpu/quant_ref.h"
#include "cpu/quant_ref_kernels.h"
#include "quant_test_util.h"

namespace tandem {
namespace {

using testing::gaussian_row;
using testing::RowBuf;

constexpr double kDotVsDequantTol = 1e-5;

struct DotBudget {
  DType type;
  double budget;  // |dot - exact| * sqrt(blocks) / sum |w_i x_i|
};

constexpr DotBudget kBudgets[] = {
    {DType::kF32, 1e-6},  {DType::kF16, 5e-4},   {DType::kBF16, 4e-3},  {DType::kQ4_0, 0.13},
    {DType::kQ4_1, 0.12}, {DType::kQ5_0, 0.075}, {DType::kQ5_1, 0.07},  {DType::kQ8_0, 0.012},
    {DType::kQ4_K, 0.04}, {DType::kQ5_K, 0.02},  {DType::kQ6_K, 0.01},  {DType::kQ8_K, 0.0055},
    {DType::kQ2_K, 0.15}, {DType::kQ3_K, 0.08},
};

int64_t block_elems(DType t) {
  const int64_t be = traits(t).block_elems;
  return be == 1 ? 32 : be;
}

// The min of block b of a Q4_1/Q5_1 row.
float block_min(DType t, const void* w, int64_t b) {
  if (t == DType::kQ4_1) return fp16_to_f32(static_cast<const BlockQ4_1*>(w)[b].m);
  return fp16_to_f32(static_cast<const BlockQ5_1*>(w)[b].m);
}

struct Case {
  DType type;
  int64_t n;
  std::vector<float> w, x;  // unquantized
  RowBuf wq, xq;            // w in type, x in vec_dot_type(type)
  Case(DType t, int64_t n_, uint32_t seed)
      : type(t), n(n_), w(gaussian_row(n_, seed)), x(gaussian_row(n_, seed + 7777)),
        wq(t, n_), xq(cpu::vec_dot_type(t), n_) {
    cpu::quantize_row_ref(t, w.data(), wq.data(), n);
    cpu::quantize_activation_ref(t, x.data(), xq.data(), n);
  }
};

// float64 dot of the dequantized operands, with GGML's use of the stored Q8_1 s.
struct Ref {
  double dot = 0, sum_abs = 0;
};
Ref dequantized_dot(const Case& c) {
  const DType xt = cpu::vec_dot_type(c.type);
  std::vector<float> wd(static_cast<size_t>(c.n)), xd(static_cast<size_t>(c.n));
  cpu::dequantize_row_ref(c.type, c.wq.data(), wd.data(), c.n);
  cpu::dequantize_row_ref(xt, c.xq.data(), xd.data(), c.n);
  Ref r;
  for (int64_t i = 0; i < c.n; ++i) {
    r.dot += static_cast<double>(wd[i]) * xd[i];
    r.sum_abs += std::fabs(static_cast<double>(wd[i]) * xd[i]);
  }
  if (xt == DType::kQ8_1) {
    // Replace m * sum_j (d_x p_j) by m * s per block.
    const auto* xb = static_cast<const BlockQ8_1*>(c.xq.data());
    for (int64_t b = 0; b < c.n / kQK; ++b) {
      const double m = block_min(c.type, c.wq.data(), b);
      double dsum = 0;
      for (int j = 0; j < kQK; ++j) dsum += static_cast<double>(xd[kQK * b + j]);
      r.dot += m * (static_cast<double>(fp16_to_f32(xb[b].s)) - dsum);
    }
  }
  return r;
}

TEST(VecDotRef, MatchesFloat64DotOfDequantizedOperands) {
  for (const DotBudget& bud : kBudgets) {
    for (int64_t blocks : {1, 3, 7}) {
      for (uint32_t seed = 1; seed <= 10; ++seed) {
        const int64_t n = blocks * block_elems(bud.type);
        const Case c(bud.type, n, seed * 31 + static_cast<uint32_t>(blocks));
        const Ref r = dequantized_dot(c);
        const float got = cpu::vec_dot_ref(c.type, n, c.wq.data(), c.xq.data());
        EXPECT_LE(std::fabs(got - r.dot), kDotVsDequantTol * r.sum_abs)
            << dtype_name(c.type) << " n=" << n << " seed=" << seed << ": got " << got
            << ", float64 " << r.dot << ", sum|terms| " << r.sum_abs;
      }
    }
  }
}

TEST(VecDotRef, WithinBudgetOfExactDot) {
  for (const DotBudget& bud : kBudgets) {
    for (int64_t blocks : {1, 3, 7}) {
      for (uint32_t seed = 1; seed <= 10; ++seed) {
        const int64_t n = blocks * block_elems(bud.type);
        const Case c(bud.type, n, seed * 17 + static_cast<uint32_t>(blocks));
        double exact = 0, sum_abs = 0;
        for (int64_t i = 0; i < n; ++i) {
          exact += static_cast<double>(c.w[i]) * c.x[i];
          sum_abs += std::fabs(static_cast<double>(c.w[i]) * c.x[i]);
        }
        const float got = cpu::vec_dot_ref(c.type, n, c.wq.data(), c.xq.data());
        const double allowed = bud.budget * sum_abs / std::sqrt(static_cast<double>(blocks));
        EXPECT_LE(std::fabs(got - exact), allowed)
            << dtype_name(c.type) << " n=" << n << " seed=" << seed << ": got " << got
            << ", exact " << exact << ", sum|terms| " << sum_abs;
      }
    }
  }
}

// The min terms matter: weights far from zero mean (all positive) still dot correctly.
TEST(VecDotRef, OffsetWeightsUseMins) {
  for (DType t : {DType::kQ4_1, DType::kQ5_1, DType::kQ2_K, DType::kQ4_K, DType::kQ5_K}) {
    const int64_t n = 3 * block_elems(t);
    std::vector<float> w = gaussian_row(n, 3), x = gaussian_row(n, 4);
    for (float& v : w) v = 2.0f + 0.3f * v;
    RowBuf wq(t, n), xq(cpu::vec_dot_type(t), n);
    cpu::quantize_row_ref(t, w.data(), wq.data(), n);
    cpu::quantize_activation_ref(t, x.data(), xq.data(), n);
    double exact = 0, sum_abs = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += static_cast<double>(w[i]) * x[i];
      sum_abs += std::fabs(static_cast<double>(w[i]) * x[i]);
    }
    const float got = cpu::vec_dot_ref(t, n, wq.data(), xq.data());
    EXPECT_LE(std::fabs(got - exact), 0.02 * sum_abs) << dtype_name(t) << " n=" << n << ": got " << got << ", exact " << exact;
  }
}

TEST(VecDotRef, F16AndBF16ByHand) {
  // w = [1, 2, 0.5, -4], x = [3, -1, 4, 0.25]: 3 - 2 + 2 - 1 = 2, every value exact.
  const std::vector<float> wf = {1, 2, 0.5f, -4}, xf = {3, -1, 4, 0.25f};
  std::vector<uint16_t> w(4), x(4);
  cpu::quantize_row_ref(DType::kF16, wf.data(), w.data(), 4);
  cpu::quantize_activation_ref(DType::kF16, xf.data(), x.data(), 4);
  EXPECT_EQ(cpu::vec_dot_ref(DType::kF16, 4, w.data(), x.data()), 2.0f);
  cpu::quantize_row_ref(DType::kBF16, wf.data(), w.data(), 4);
  cpu::quantize_activation_ref(DType::kBF16, xf.data(), x.data(), 4);
  EXPECT_EQ(cpu::vec_dot_ref(DType::kBF16, 4, w.data(), x.data()), 2.0f);
}

TEST(VecDotRef, F16ActivationsAreRounded) {
  // x = 1 + 2^-12 rounds to 1 in f16: the dot with w = 1 is exactly 1 (in f32 the
  // product would keep the 2^-12).
  const std::vector<float> wf = {1.0f}, xf = {1.0f + 0x1p-12f};
  std::vector<uint16_t> w(1), x(1);
  cpu::quantize_row_ref(DType::kF16, wf.data(), w.data(), 1);
  cpu::quantize_activation_ref(DType::kF16, xf.data(), x.data(), 1);
  EXPECT_EQ(cpu::vec_dot_ref(DType::kF16, 1, w.data(), x.data()), 1.0f);
  EXPECT_EQ(cpu::vec_dot_ref(DType::kF32, 1, wf.data(), xf.data()), 1.0f + 0x1p-12f);
}

TEST(VecDotRef, F16ProductsSumInF32) {
  // Long rows: the result equals a float64 dot of the f16 values within f32 summation
  // error (n * 2^-24 relative to sum |terms|).
  for (int64_t n : {33, 1000, 4096}) {
    const std::vector<float> wf = gaussian_row(n, 9), xf = gaussian_row(n, 10);
    std::vector<uint16_t> w(static_cast<size_t>(n)), x(static_cast<size_t>(n));
    for (DType t : {DType::kF16, DType::kBF16}) {
      cpu::quantize_row_ref(t, wf.data(), w.data(), n);
      cpu::quantize_activation_ref(t, xf.data(), x.data(), n);
      std::vector<float> wd(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
      cpu::dequantize_row_ref(t, w.data(), wd.data(), n);
      cpu::dequantize_row_ref(t, x.data(), xd.data(), n);
      double ref = 0, sum_abs = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += static_cast<double>(wd[i]) * xd[i];
        sum_abs += std::fabs(static_cast<double>(wd[i]) * xd[i]);
      }
      const float got = cpu::vec_dot_ref(t, n, w.data(), x.data());
      EXPECT_LE(std::fabs(got - ref), static_cast<double>(n) * 0x1p-24 * sum_abs)
          << dtype_name(t) << " n=" << n;
    }
  }
}

// ---- GEMV ---------------------------------------------------------------------------

TEST(GemvRef, RowsEqualVecDot) {
  for (const DotBudget& bud : kBudgets) {
    const DType t = bud.type;
    const int64_t rows = 5, cols = 3 * block_elems(t);
    const std::vector<float> wf = gaussian_row(rows * cols, 21), x = gaussian_row(cols, 22);
    const size_t row_bytes = cpu::quantized_row_bytes(t, cols);
    RowBuf w(t, rows * cols);
    ASSERT_EQ(w.bytes, rows * row_bytes) << dtype_name(t);
    for (int64_t r = 0; r < rows; ++r)
      cpu::quantize_row_ref(t, wf.data() + r * cols, static_cast<std::byte*>(w.data()) + r * row_bytes, cols);
    std::vector<float> y(rows);
    cpu::gemv_ref(t, w.data(), rows, cols, x.data(), y.data());

    RowBuf xq(cpu::vec_dot_type(t), cols);
    cpu::quantize_activation_ref(t, x.data(), xq.data(), cols);
    for (int64_t r = 0; r < rows; ++r) {
      const float want = cpu::vec_dot_ref(t, cols, static_cast<const std::byte*>(w.data()) + r * row_bytes, xq.data());
      EXPECT_EQ(y[r], want) << dtype_name(t) << " row " << r << " cols=" << cols;
    }

    // gemv_rows_ref writes exactly [row_begin, row_end), indexed by absolute row.
    std::vector<float> part(rows, -999.0f);
    cpu::gemv_rows_ref(t, w.data(), 1, 4, cols, xq.data(), part.data());
    EXPECT_EQ(part[0], -999.0f) << dtype_name(t);
    EXPECT_EQ(part[4], -999.0f) << dtype_name(t);
    for (int64_t r = 1; r < 4; ++r) EXPECT_EQ(part[r], y[r]) << dtype_name(t) << " row " << r;
  }
}

TEST(GemvRef, QuantizedRowBytes) {
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kF32, 7), 28u);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kF16, 7), 14u);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ4_0, 96), 3u * 18);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ8_1, 64), 2u * 36);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ2_K, 768), 3u * 84);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ3_K, 256), 110u);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ4_K, 768), 3u * 144);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ6_K, 256), 210u);
  EXPECT_EQ(cpu::quantized_row_bytes(DType::kQ8_K, 512), 2u * 292);
}

}  // namespace
}  // namespace tandem
