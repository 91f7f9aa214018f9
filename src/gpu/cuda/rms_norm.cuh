// RMSNorm on the GPU; the contract of cpu::rms_norm_ref, row by row:
//   y[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i]
// Sums of squares in f32 (the reference uses f64), then the reference's formula.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

struct RowShape {
  int64_t rows = 0;  // independent rows
  int64_t cols = 0;  // contiguous elements per row
};

// x, y: [rows, cols] (y may be x); w: [cols] f32 (GGUF norm weights are f32).
cudaError_t rms_norm_f32(const float* x, const float* w, float* y, RowShape s, float eps, cudaStream_t stream);
cudaError_t rms_norm_f16(const __half* x, const float* w, __half* y, RowShape s, float eps, cudaStream_t stream);

}  // namespace tandem::gpu
