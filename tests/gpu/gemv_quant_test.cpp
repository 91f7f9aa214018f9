// The dequantizing GEMV for Q8_0 and Q4_0 against the CPU's dequantization and an f64
// dot product, for every batch size 1..8, odd row counts and long rows.
#include <gtest/gtest.h>

#include <cmath>

#include "cpu/quant_ref.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

// f32 accumulation in a different order than the f64 reference, relative to the sum of
// |w * x| (a wrong weight in a row of 4096 moves the result by ~2e-4 of it).
constexpr double kGemvTol = 1e-5;

using GemvFn = cudaError_t (*)(const void*, const float*, float*, GemvShape, cudaStream_t);

void check_type(GpuTest& t, DType type, GemvFn fn) {
  for (int64_t cols : {32, 96, 4128}) {
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

TEST_F(GpuTest, GemvQ8_0MatchesDequantizedReference) { check_type(*this, DType::kQ8_0, gemv_q8_0); }
TEST_F(GpuTest, GemvQ4_0MatchesDequantizedReference) { check_type(*this, DType::kQ4_0, gemv_q4_0); }

}  // namespace
}  // namespace tandem::gpu
