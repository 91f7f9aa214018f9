// GPU SiLU gate and residual add against the CPU: silu_mul_ref within a named
// tolerance, the residual add bit for bit (one f32 add, one rounding), f32 and f16.
#include <gtest/gtest.h>

#include <cstring>

#include "cpu/ops_ref.h"
#include "gpu/cuda/residual_add.cuh"
#include "gpu/cuda/silu_gate.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

constexpr float kSiluRel = 1e-6f;     // expf vs glibc's exp: a couple of ulp
constexpr float kF16Rel = 1e-3f;

const int64_t kSizes[] = {1, 31, 1000, 70001};

TEST_F(GpuTest, SiluGateF32MatchesReference) {
  for (int64_t n : kSizes) {
    const auto g = testing::random_floats(n, n * 3, 3.f), u = testing::random_floats(n, n * 5);
    DeviceBuffer dg = upload(g), du = upload(u);
    auto dy = alloc_->allocate(n * sizeof(float), "y");
    ASSERT_TRUE(dy);
    ASSERT_EQ(silu_gate_f32(dg.as<float>(), du.as<float>(), dy->as<float>(), n, stream()), cudaSuccess);
    std::vector<float> ref(n);
    cpu::silu_mul_ref(g.data(), u.data(), ref.data(), n);
    testing::expect_close(download<float>(*dy, n), ref, 1e-7f, kSiluRel, "silu f32 n=" + std::to_string(n));
    // In place into the gate, as the FFN does.
    ASSERT_EQ(silu_gate_f32(dg.as<float>(), du.as<float>(), dg.as<float>(), n, stream()), cudaSuccess);
    testing::expect_close(download<float>(dg, n), ref, 1e-7f, kSiluRel, "silu in place n=" + std::to_string(n));
  }
}

TEST_F(GpuTest, SiluGateF16MatchesReference) {
  for (int64_t n : kSizes) {
    const auto gh = testing::to_f16(testing::random_floats(n, n * 7, 3.f)), uh = testing::to_f16(testing::random_floats(n, n * 11));
    DeviceBuffer dg = upload(gh), du = upload(uh);
    auto dy = alloc_->allocate(n * 2, "y");
    ASSERT_TRUE(dy);
    ASSERT_EQ(silu_gate_f16(dg.as<__half>(), du.as<__half>(), dy->as<__half>(), n, stream()), cudaSuccess);
    const auto g = testing::from_f16(gh), u = testing::from_f16(uh);
    std::vector<float> ref(n);
    cpu::silu_mul_ref(g.data(), u.data(), ref.data(), n);
    testing::expect_close(testing::from_f16(download<uint16_t>(*dy, n)), testing::from_f16(testing::to_f16(ref)),
                          1e-6f, kF16Rel, "silu f16 n=" + std::to_string(n));
  }
}

TEST_F(GpuTest, ResidualAddIsExact) {
  for (int64_t n : kSizes) {
    const auto a = testing::random_floats(n, n * 13), b = testing::random_floats(n, n * 17, 0.01f);
    DeviceBuffer da = upload(a), db = upload(b);
    ASSERT_EQ(residual_add_f32(da.as<float>(), db.as<float>(), da.as<float>(), n, stream()), cudaSuccess);  // x += f(x)
    const auto got = download<float>(da, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], a[i] + b[i]) << "f32 n=" << n << " i=" << i;

    const auto ah = testing::to_f16(a), bh = testing::to_f16(b);
    DeviceBuffer dah = upload(ah), dbh = upload(bh);
    auto dy = alloc_->allocate(n * 2, "y");
    ASSERT_TRUE(dy);
    ASSERT_EQ(residual_add_f16(dah.as<__half>(), dbh.as<__half>(), dy->as<__half>(), n, stream()), cudaSuccess);
    const auto goth = download<uint16_t>(*dy, n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(goth[i], f32_to_fp16(fp16_to_f32(ah[i]) + fp16_to_f32(bh[i]))) << "f16 n=" << n << " i=" << i;
  }
}

}  // namespace
}  // namespace tandem::gpu
