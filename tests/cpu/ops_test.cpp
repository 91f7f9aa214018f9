// The elementwise launchers (cpu/ops.h) against the reference on every ISA this CPU
// has, 1 and 2 threads, lengths around the 16-lane vector and the thread grain.
//
// silu_mul tolerance: the AVX-512 exp is within a few f32 ulps of expf; one division,
// one multiplication and 1 + e add an ulp each, so the result is within 8 ulps of the
// reference: |delta| <= 8 * 2^-23 * |ref| + 1e-35 (the absolute term covers gates below
// -88, where expf(-g) overflows and the reference gives -0 while the kernel gives a
// denormal of about g e^g).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpu/ops.h"
#include "cpu/ops_ref.h"
#include "quant_test_util.h"

namespace tandem {
namespace {

TEST(Ops, SiluMulMatchesReference) {
  for (int threads : {1, 2}) {
    const cpu::ThreadArena arena(threads);
    for (cpu::Isa isa : cpu::supported_isas()) {
      const cpu::CpuLane lane{isa, &arena};
      for (int64_t n : {1, 15, 16, 17, 1000, 14339}) {
        SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " n=" + std::to_string(n) +
                     " threads=" + std::to_string(threads));
        std::vector<float> gate = testing::gaussian_row(n, 5), up = testing::gaussian_row(n, 6);
        for (int64_t i = 0; i < n; ++i) gate[static_cast<size_t>(i)] *= 8.0f;
        const float extremes[] = {-100.f, -88.5f, -20.f, -0.f, 0.f, 1e-30f, 20.f, 100.f};
        for (size_t i = 0; i < std::size(extremes) && static_cast<int64_t>(i) < n; ++i) gate[i] = extremes[i];
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n) + 1, NAN);
        cpu::silu_mul_ref(gate.data(), up.data(), want.data(), n);
        cpu::silu_mul(lane, gate.data(), up.data(), got.data(), n);
        EXPECT_TRUE(std::isnan(got.back())) << "wrote past the end";
        int failures = 0;
        for (int64_t i = 0; i < n && failures < 5; ++i) {
          const double w = want[static_cast<size_t>(i)], g = got[static_cast<size_t>(i)];
          if (!(std::fabs(g - w) <= 8 * 0x1p-23 * std::fabs(w) + 1e-35)) {
            ++failures;
            ADD_FAILURE() << "i=" << i << " gate=" << gate[static_cast<size_t>(i)] << ": " << g << ", reference " << w;
          }
        }
      }
    }
  }
}

// In place, as the engine calls it (y == gate).
TEST(Ops, SiluMulInPlace) {
  const cpu::ThreadArena arena(2);
  const cpu::CpuLane lane{cpu::supported_isas().back(), &arena};
  std::vector<float> gate = testing::gaussian_row(5000, 8), up = testing::gaussian_row(5000, 9);
  std::vector<float> want(gate.size());
  cpu::silu_mul_ref(gate.data(), up.data(), want.data(), 5000);
  cpu::silu_mul(lane, gate.data(), up.data(), gate.data(), 5000);
  for (size_t i = 0; i < gate.size(); ++i)
    ASSERT_LE(std::fabs(gate[i] - want[i]), 8 * 0x1p-23 * std::fabs(want[i]) + 1e-35) << i;
}

}  // namespace
}  // namespace tandem
