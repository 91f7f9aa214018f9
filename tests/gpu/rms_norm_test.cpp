// GPU RMSNorm against cpu::rms_norm_ref: odd widths, several rows, in place, f32 and f16.
#include <gtest/gtest.h>

#include "cpu/ops_ref.h"
#include "gpu/cuda/rms_norm.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

constexpr float kF32Rel = 1e-5f;   // f32 sums vs the reference's f64: a few ulp per row
constexpr float kF16Rel = 1e-3f;   // one rounding to half (2^-11) and a rounding-boundary flip
constexpr float kEps = 1e-5f;

std::vector<float> reference(const std::vector<float>& x, const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<float> y(x.size());
  for (int64_t r = 0; r < rows; ++r) cpu::rms_norm_ref(x.data() + r * cols, w.data(), y.data() + r * cols, cols, kEps);
  return y;
}

TEST_F(GpuTest, RmsNormF32MatchesReference) {
  for (int64_t cols : {1, 7, 256, 4097}) {
    for (int64_t rows : {1, 3, 17}) {
      const std::string what = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
      const auto x = testing::random_floats_for(rows * cols, rows * 131 + cols);
      const auto w = testing::random_floats(cols, cols + 7, 0.5f);
      DeviceBuffer dx = upload(x), dw = upload(w);
      auto dy = alloc_->allocate(x.size() * sizeof(float), "y");
      ASSERT_TRUE(dy);
      ASSERT_EQ(rms_norm_f32(dx.as<float>(), dw.as<float>(), dy->as<float>(), RowShape{rows, cols}, kEps, stream()),
                cudaSuccess);
      const auto ref = reference(x, w, rows, cols);
      testing::expect_close(download<float>(*dy, x.size()), ref, 1e-6f, kF32Rel, what);
      // In place: y = x.
      ASSERT_EQ(rms_norm_f32(dx.as<float>(), dw.as<float>(), dx.as<float>(), RowShape{rows, cols}, kEps, stream()),
                cudaSuccess);
      testing::expect_close(download<float>(dx, x.size()), ref, 1e-6f, kF32Rel, what + " in place");
    }
  }
}

TEST_F(GpuTest, RmsNormF16MatchesReference) {
  for (int64_t cols : {7, 256, 4097}) {
    for (int64_t rows : {1, 5}) {
      const std::string what = "f16 rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
      const auto xh = testing::to_f16(testing::random_floats_for(rows * cols, rows * 7 + cols));
      const auto w = testing::random_floats(cols, cols + 3, 0.5f);
      DeviceBuffer dx = upload(xh), dw = upload(w);
      auto dy = alloc_->allocate(xh.size() * 2, "y");
      ASSERT_TRUE(dy);
      ASSERT_EQ(rms_norm_f16(dx.as<__half>(), dw.as<float>(), dy->as<__half>(), RowShape{rows, cols}, kEps, stream()),
                cudaSuccess);
      // The reference on the same half inputs, rounded to half like the GPU's output.
      const auto ref = testing::from_f16(testing::to_f16(reference(testing::from_f16(xh), w, rows, cols)));
      testing::expect_close(testing::from_f16(download<uint16_t>(*dy, xh.size())), ref, 1e-5f, kF16Rel, what);
    }
  }
}

}  // namespace
}  // namespace tandem::gpu
