// The residual connection on the GPU: y[i] = a[i] + b[i], added in f32 and rounded once
// to the element type (so f32 and f16 results equal the CPU's bit for bit).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

// a, b, y: [n] (y may be a or b: x += f(x) is residual_add(x, fx, x)).
cudaError_t residual_add_f32(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
cudaError_t residual_add_f16(const __half* a, const __half* b, __half* y, int64_t n, cudaStream_t stream);

}  // namespace tandem::gpu
