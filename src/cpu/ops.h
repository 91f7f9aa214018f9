// Elementwise layer ops on the CPU lane: the SIMD kernel for the lane's ISA where one
// exists (AVX-512), else the reference (ops_ref.h), split over the lane's threads.
#pragma once

#include <cstdint>

#include "cpu/cpu_lane.h"

namespace tandem::cpu {

// y[i] = silu(gate[i]) * up[i] (y may alias gate or up). AVX-512: within 8 f32 ulps of
// silu_mul_ref (its exp is a polynomial within a few ulps of expf; see the test).
void silu_mul(const CpuLane& lane, const float* gate, const float* up, float* y, int64_t n);

// ---- kernels behind silu_mul (ops_avx512.cpp, AVX-512 flags only) -------------------
void silu_mul_avx512(const float* gate, const float* up, float* y, int64_t n);

}  // namespace tandem::cpu
