// The SwiGLU gate on the GPU; the contract of cpu::silu_mul_ref:
//   y[i] = gate[i] / (1 + exp(-gate[i])) * up[i]     (math in f32)
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

// gate, up, y: [n] (y may be gate or up).
cudaError_t silu_gate_f32(const float* gate, const float* up, float* y, int64_t n, cudaStream_t stream);
cudaError_t silu_gate_f16(const __half* gate, const __half* up, __half* y, int64_t n, cudaStream_t stream);

}  // namespace tandem::gpu
