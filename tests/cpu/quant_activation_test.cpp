// The activation quantizers (what vec_dot feeds on) against values computed by hand:
// Q8_0/Q8_1 round half away from zero with d = amax/127; Q8_K keeps the sign of the
// largest-magnitude value (iscale = -127/max), rounds half to even and clamps at 127.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/fp16.h"
#include "cpu/quant_ref.h"
#include "cpu/quant_ref_kernels.h"
#include "quant_test_util.h"

namespace tandem {
namespace {

TEST(ActivationQ8_0, RoundsHalfAwayFromZero) {
  // amax = 127 -> d = 1, id = 1: q = roundf(x).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;    // -> 3 (half away; half-to-even would give 2)
  x[2] = -2.5f;   // -> -3
  x[3] = 0.5f;    // -> 1
  x[4] = -0.5f;   // -> -1
  x[5] = 1.49f;   // -> 1
  x[6] = -126.5f; // -> -127
  x[7] = 3.5f;    // -> 4
  BlockQ8_0 b;
  cpu::quantize_q8_0_ref(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_f32(b.d), 1.0f);
  const int want[] = {127, 3, -3, 1, -1, 1, -127, 4, 0};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(b.qs[i], want[i]) << "q8_0 element " << i << " x=" << x[i];
}

TEST(ActivationQ8_0, ScaleFromAbsMaxAndZeroBlock) {
  // Block 0: amax = 254 (negative) -> d = 2, id = 0.5: x = 5 -> 2.5 -> 3, x = -254 -> -127.
  // Block 1: all zero -> d = 0, q = 0.
  std::vector<float> x(64, 0.0f);
  x[0] = 5.0f;
  x[1] = -254.0f;
  x[2] = 1.0f;  // 0.5 -> 1
  BlockQ8_0 b[2];
  cpu::quantize_q8_0_ref(x.data(), b, 64);
  EXPECT_EQ(fp16_to_f32(b[0].d), 2.0f);
  EXPECT_EQ(b[0].qs[0], 3);
  EXPECT_EQ(b[0].qs[1], -127);
  EXPECT_EQ(b[0].qs[2], 1);
  EXPECT_EQ(b[1].d, 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[1].qs[i], 0) << "zero block, element " << i;
}

TEST(ActivationQ8_0, IdComesFromF32DNotTheStoredF16) {
  // amax = 1: d = 1/127 in f32 is not an f16 value, and id = 1/d uses the f32 d:
  // id = 127 (to an ulp), while 1/f16(d) = 127.0075. For x = 100.497/127, x * id =
  // 100.497 -> 100, where an id from the stored f16 d would give 100.503 -> 101.
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f;
  x[1] = 100.497f / 127.0f;
  BlockQ8_0 b;
  cpu::quantize_q8_0_ref(x.data(), &b, 32);
  const float d = 1.0f / 127;
  EXPECT_EQ(b.d, f32_to_fp16(d));
  ASSERT_EQ(std::round(x[1] * (1.0f / fp16_to_f32(b.d))), 101.0f) << "the case must tell the two apart";
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 100);
}

TEST(ActivationQ8_1, StoresScaledSum) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -27.0f;
  x[2] = 2.5f;  // -> 3
  BlockQ8_1 b;
  cpu::quantize_q8_1_ref(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_f32(b.d), 1.0f);
  EXPECT_EQ(b.qs[2], 3);
  EXPECT_EQ(fp16_to_f32(b.s), 103.0f);  // d * (127 - 27 + 3)
}

TEST(ActivationQ8_K, SignOfLargestMagnitudeAndHalfToEven) {
  // max = -127 (largest |x|, negative): iscale = -127/-127 = 1, d = 1.
  // Ties go to even: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0, -1.5 -> -2.
  std::vector<float> x(256, 0.0f);
  x[0] = -127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -0.5f;
  x[4] = -1.5f;
  x[5] = 100.2f;  // -> 100
  x[17] = 7.0f;
  BlockQ8_K b;
  cpu::quantize_q8_k_ref(x.data(), &b, 256);
  EXPECT_EQ(b.d, 1.0f);
  const int want[] = {-127, 2, 4, 0, -2, 100};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(b.qs[i], want[i]) << "q8_K element " << i << " x=" << x[i];
  EXPECT_EQ(b.bsums[0], -127 + 2 + 4 + 0 - 2 + 100);
  EXPECT_EQ(b.bsums[1], 7);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(b.bsums[g], 0) << "bsums[" << g << "]";
}

TEST(ActivationQ8_K, PositiveMaxMapsToMinus127) {
  // max = +10 -> iscale = -12.7, d = 1/iscale < 0: x = 10 -> -127, x = -10 -> +127
  // (127.00000x rounds to 127; the clamp at 127 keeps it in int8 range), x = 5 -> about
  // -63.5. Dequantization d * q restores the signs.
  std::vector<float> x(256, 0.0f);
  x[0] = 10.0f;
  x[1] = -10.0f;
  x[2] = 5.0f;
  BlockQ8_K b;
  cpu::quantize_q8_k_ref(x.data(), &b, 256);
  const float iscale = -127.0f / 10.0f;
  EXPECT_EQ(b.d, 1.0f / iscale);
  EXPECT_LT(b.d, 0.0f);
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], 127);
  EXPECT_EQ(b.qs[2], static_cast<int8_t>(std::nearbyint(iscale * 5.0f)));
  std::vector<float> y(256);
  cpu::dequantize_q8_k_ref(&b, y.data(), 256);
  EXPECT_NEAR(y[0], 10.0f, 1e-5f);
  EXPECT_NEAR(y[1], -10.0f, 1e-5f);
}

TEST(ActivationQ8_K, NeverLeavesMinus127To127) {
  // Across many blocks the extremes land on exactly -127 (the max) and +127 (its
  // negation), never 128 and never -128.
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::vector<float> x = testing::gaussian_row(256, seed, 1.0f + static_cast<float>(seed) * 0.37f);
    int imax = 0;
    for (int i = 1; i < 256; ++i)
      if (std::fabs(x[i]) > std::fabs(x[imax])) imax = i;
    std::swap(x[0], x[imax]);  // the max first, its negation second (first one wins ties)
    imax = 0;
    const int other = 1;
    x[other] = -x[imax];
    BlockQ8_K b;
    cpu::quantize_q8_k_ref(x.data(), &b, 256);
    EXPECT_EQ(b.qs[imax], -127) << "seed " << seed;
    EXPECT_EQ(b.qs[other], 127) << "seed " << seed;
    for (int i = 0; i < 256; ++i) ASSERT_GE(b.qs[i], -127) << "seed " << seed << " i=" << i;
  }
}

TEST(ActivationQ8_K, ZeroBlock) {
  std::vector<float> x(512, 0.0f);
  x[300] = 1.0f;  // second block non-zero
  BlockQ8_K b[2];
  std::memset(b, 0x5a, sizeof(b));
  cpu::quantize_q8_k_ref(x.data(), b, 512);
  EXPECT_EQ(b[0].d, 0.0f);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(b[0].qs[i], 0) << "zero block element " << i;
  for (int g = 0; g < 16; ++g) ASSERT_EQ(b[0].bsums[g], 0) << "zero block bsums " << g;
  EXPECT_EQ(b[1].qs[300 - 256], -127);
}

TEST(ActivationTypes, VecDotTypeTable) {
  EXPECT_EQ(cpu::vec_dot_type(DType::kF32), DType::kF32);
  EXPECT_EQ(cpu::vec_dot_type(DType::kF16), DType::kF16);
  EXPECT_EQ(cpu::vec_dot_type(DType::kBF16), DType::kBF16);
  for (DType t : {DType::kQ4_0, DType::kQ5_0, DType::kQ8_0}) EXPECT_EQ(cpu::vec_dot_type(t), DType::kQ8_0) << dtype_name(t);
  for (DType t : {DType::kQ4_1, DType::kQ5_1}) EXPECT_EQ(cpu::vec_dot_type(t), DType::kQ8_1) << dtype_name(t);
  for (DType t : {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K})
    EXPECT_EQ(cpu::vec_dot_type(t), DType::kQ8_K) << dtype_name(t);
}

TEST(ActivationTypes, F16AndBF16RoundToNearestEven) {
  // 1 + 2^-11 is halfway between f16 1 and 1 + 2^-10: ties to even -> 1.
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: -> 1 + 2^-9.
  const std::vector<float> x = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 3 * 0x1p-8f};
  std::vector<uint16_t> h(3), bf(3);
  cpu::quantize_activation_ref(DType::kF16, x.data(), h.data(), 3);
  EXPECT_EQ(fp16_to_f32(h[0]), 1.0f);
  EXPECT_EQ(fp16_to_f32(h[1]), 1.0f + 0x1p-9f);
  // bf16 keeps 8 significant bits (spacing 2^-7 above 1): 1 + 3 * 2^-8 is halfway
  // between 1 + 2^-7 (odd) and 1 + 2^-6 (even) -> 1 + 2^-6.
  cpu::quantize_activation_ref(DType::kBF16, x.data(), bf.data(), 3);
  EXPECT_EQ(bf16_to_f32(bf[0]), 1.0f);
  EXPECT_EQ(bf16_to_f32(bf[2]), 1.0f + 0x1p-6f);
}

}  // namespace
}  // namespace tandem
