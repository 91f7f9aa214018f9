#include "core/dtype.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/fp16.h"

namespace tandem {
namespace {

TEST(DType, KnownLayouts) {
  EXPECT_EQ(traits(DType::kQ4_0).block_bytes, 18);
  EXPECT_EQ(traits(DType::kQ4_K).block_bytes, 144);
  EXPECT_EQ(traits(DType::kQ6_K).block_bytes, 210);
  EXPECT_EQ(traits(DType::kQ8_K).block_bytes, 292);
  EXPECT_FALSE(dtype_traits(4).has_value());   // removed GGML type id
  EXPECT_FALSE(dtype_traits(999).has_value());
}

TEST(DType, TwoAndThreeBitKQuants) {
  EXPECT_EQ(traits(DType::kQ2_K).block_bytes, 84);  // 16 scales, 64 qs, d, dmin
  EXPECT_EQ(traits(DType::kQ3_K).block_bytes, 110);  // 32 hmask, 64 qs, 12 scales, d
  EXPECT_EQ(traits(DType::kQ2_K).block_elems, 256);
  EXPECT_TRUE(traits(DType::kQ2_K).supported);
  EXPECT_TRUE(traits(DType::kQ3_K).supported);
  EXPECT_EQ(row_bytes(DType::kQ2_K, 512), 168u);
  EXPECT_EQ(row_bytes(DType::kQ3_K, 768), 330u);
  EXPECT_FALSE(row_bytes(DType::kQ2_K, 896).has_value());  // 896 = 3.5 super-blocks
  EXPECT_FALSE(row_bytes(DType::kQ3_K, 32).has_value());
  EXPECT_EQ(parse_dtype("Q3_K"), DType::kQ3_K);
  EXPECT_EQ(dtype_name(DType::kQ2_K), "q2_K");
}

TEST(DType, RowBytesChecksBlocksAndOverflow) {
  EXPECT_EQ(row_bytes(DType::kQ4_0, 64), 36u);
  EXPECT_FALSE(row_bytes(DType::kQ4_0, 33).has_value());
  EXPECT_FALSE(row_bytes(DType::kF32, UINT64_MAX / 2).has_value());
  EXPECT_EQ(parse_dtype("Q4_K"), DType::kQ4_K);
  EXPECT_EQ(parse_dtype("bf16"), DType::kBF16);
  EXPECT_FALSE(parse_dtype("q9_9").has_value());
}

TEST(Fp16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_fp16(f), h) << "h=" << h;
  }
}

TEST(Fp16, RoundsToNearestEvenAgainstDouble) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-70000.f, 70000.f);
  for (int i = 0; i < 100000; ++i) {
    const float f = d(rng) * (i % 3 == 0 ? 1e-6f : 1.f);
    const float r = fp16_to_f32(f32_to_fp16(f));
    // Any other half must be no closer than the chosen one.
    const uint16_t h = f32_to_fp16(f);
    if (std::isinf(r)) continue;
    for (int step : {-1, 1}) {
      const float other = fp16_to_f32(static_cast<uint16_t>(h + step));
      if (std::isnan(other) || std::isinf(other)) continue;
      ASSERT_LE(std::fabs(double(r) - f), std::fabs(double(other) - f)) << "f=" << f;
    }
  }
}

TEST(Bf16, RoundsToNearest) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie to even
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);
}

}  // namespace
}  // namespace tandem
