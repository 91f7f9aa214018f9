// A bias added to every row on the GPU (Qwen2's Q, K and V projections):
//   y[r, i] += bias[i]      r < rows, i < cols
// in f32, as the CPU adds it (one rounding per element: results equal bit for bit).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

// y: device, [rows, cols] f32, updated in place; bias: device, [cols] f32.
cudaError_t bias_add_f32(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace tandem::gpu
