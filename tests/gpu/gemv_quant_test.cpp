// The dequantizing GEMV for every weight type against the CPU's dequantization and an
// f64 dot product, for every batch size 1..8, odd row counts and long rows (K-quants:
// 1, 3 and 17 super-blocks). The per-block decoding itself is checked bit for bit on the
// host (tests/gpu_host/dequant_functor_test.cpp); this checks the kernel around it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "cpu/quant_ref.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

// f32 accumulation in a different order than the f64 reference, relative to the sum of
// |w * x| (a wrong weight in a row of 4096 moves the result by ~2e-4 of it).
constexpr double kGemvTol = 1e-5;

void check_type(GpuTest& t, DType type, GemvFn fn, std::initializer_list<int64_t> col_counts) {
  for (int64_t cols : col_counts) {
    for (int64_t rows : {1, 7, 67}) {
      // Weights: random rows quantized by the CPU reference; the oracle reads them back.
      const auto wf = testing::random_floats(rows * cols, rows * 7919 + cols);
      const size_t row_bytes = cpu::quantized_row_bytes(type, cols);
      std::vector<uint8_t> wq(row_bytes * rows);
      std::vector<float> wd(rows * cols);
      for (int64_t r = 0; r < rows; ++r) {
        cpu::quantize_row_ref(type, wf.data() + r * cols, wq.data() + r * row_bytes, cols);
        cpu::dequantize_row_ref(type, wq.data() + r * row_bytes, wd.data() + r * cols, cols);
      }
      DeviceBuffer dw = t.upload(wq);
      for (int32_t n = 1; n <= kGemvMaxTokens; ++n) {
        const std::string what = std::string(dtype_name(type)) + " rows=" + std::to_string(rows) +
                                 " cols=" + std::to_string(cols) + " tokens=" + std::to_string(n);
        const auto x = testing::random_floats_for(n * cols, cols * 31 + n);
        DeviceBuffer dx = t.upload(x);
        auto dy = t.alloc_->allocate(n * rows * sizeof(float), "y");
        ASSERT_TRUE(dy);
        ASSERT_EQ(fn(dw.data(), dx.as<float>(), dy->as<float>(), GemvShape{rows, cols, n}, t.stream()), cudaSuccess)
            << what;
        const auto y = t.download<float>(*dy, n * rows);
        for (int32_t k = 0; k < n; ++k) {
          for (int64_t r = 0; r < rows; ++r) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < cols; ++c) {
              const double p = static_cast<double>(wd[r * cols + c]) * x[k * cols + c];
              ref += p;
              mag += std::fabs(p);
            }
            ASSERT_LE(std::fabs(y[k * rows + r] - ref), kGemvTol * mag + 1e-6)
                << what << ": token " << k << " row " << r << " gpu " << y[k * rows + r] << " cpu " << ref;
          }
        }
      }
    }
  }
}

constexpr std::initializer_list<int64_t> kLegacyCols = {32, 96, 4128};
constexpr std::initializer_list<int64_t> kSuperCols = {256, 768, 4352};

TEST_F(GpuTest, GemvQ8_0MatchesDequantizedReference) { check_type(*this, DType::kQ8_0, gemv_q8_0, kLegacyCols); }
TEST_F(GpuTest, GemvQ4_0MatchesDequantizedReference) { check_type(*this, DType::kQ4_0, gemv_q4_0, kLegacyCols); }
TEST_F(GpuTest, GemvQ4_1MatchesDequantizedReference) { check_type(*this, DType::kQ4_1, gemv_q4_1, kLegacyCols); }
TEST_F(GpuTest, GemvQ5_0MatchesDequantizedReference) { check_type(*this, DType::kQ5_0, gemv_q5_0, kLegacyCols); }
TEST_F(GpuTest, GemvQ5_1MatchesDequantizedReference) { check_type(*this, DType::kQ5_1, gemv_q5_1, kLegacyCols); }
TEST_F(GpuTest, GemvF16MatchesDequantizedReference) { check_type(*this, DType::kF16, gemv_f16, kLegacyCols); }
TEST_F(GpuTest, GemvBF16MatchesDequantizedReference) { check_type(*this, DType::kBF16, gemv_bf16, kLegacyCols); }
TEST_F(GpuTest, GemvQ2_KMatchesDequantizedReference) { check_type(*this, DType::kQ2_K, gemv_q2_k, kSuperCols); }
TEST_F(GpuTest, GemvQ3_KMatchesDequantizedReference) { check_type(*this, DType::kQ3_K, gemv_q3_k, kSuperCols); }
TEST_F(GpuTest, GemvQ4_KMatchesDequantizedReference) { check_type(*this, DType::kQ4_K, gemv_q4_k, kSuperCols); }
TEST_F(GpuTest, GemvQ5_KMatchesDequantizedReference) { check_type(*this, DType::kQ5_K, gemv_q5_k, kSuperCols); }
TEST_F(GpuTest, GemvQ6_KMatchesDequantizedReference) { check_type(*this, DType::kQ6_K, gemv_q6_k, kSuperCols); }

// Shapes and pointers off the contract come back as cudaErrorInvalidValue before any
// launch, so this runs without a device (the pointers are never dereferenced).
TEST(GemvLaunchers, RejectShapesAndAlignmentsOffTheContract) {
  const auto* aligned = reinterpret_cast<const float*>(uintptr_t{0x10000});
  const auto* misaligned = reinterpret_cast<const float*>(uintptr_t{0x10008});
  float* y = reinterpret_cast<float*>(uintptr_t{0x20000});
  for (GemvFn fn : {gemv_q2_k, gemv_q3_k, gemv_q4_k, gemv_q5_k, gemv_q6_k}) {
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{4, 288, 1}, nullptr), cudaErrorInvalidValue);  // not 256k
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{4, 4096 - 32, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(misaligned, aligned, y, GemvShape{4, 4096, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, misaligned, y, GemvShape{4, 4096, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{4, 4096, kGemvMaxTokens + 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{0, 4096, 1}, nullptr), cudaSuccess);  // nothing to do
  }
  for (GemvFn fn : {gemv_q4_0, gemv_q4_1, gemv_q5_0, gemv_q5_1, gemv_q8_0, gemv_f16, gemv_bf16}) {
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{4, 48, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(misaligned, aligned, y, GemvShape{4, 64, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, misaligned, y, GemvShape{4, 64, 1}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{4, 64, 0}, nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(fn(aligned, aligned, y, GemvShape{-1, 64, 1}, nullptr), cudaErrorInvalidValue);
  }
}

}  // namespace
}  // namespace tandem::gpu
