#include "cpu/ops.h"

#include "core/check.h"
#include "cpu/ops_ref.h"

namespace tandem::cpu {
namespace {
constexpr int64_t kGrain = 4096;  // elements per thread chunk, at least
}  // namespace

void silu_mul(const CpuLane& lane, const float* gate, const float* up, float* y, int64_t n) {
  TANDEM_CHECK(lane.arena != nullptr) << "silu_mul: lane without threads";
  const bool simd = lane.isa == Isa::kAvx512;
  lane.arena->parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    if (simd) silu_mul_avx512(gate + i0, up + i0, y + i0, i1 - i0);
    else silu_mul_ref(gate + i0, up + i0, y + i0, i1 - i0);
  });
}

}  // namespace tandem::cpu
