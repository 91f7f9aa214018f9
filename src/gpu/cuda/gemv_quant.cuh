// Dequantizing matrix-vector products for decode batches of 1..8 tokens: each weight
// block is read once and multiplied with every token's activations (f32 math, f32
// activations; no activation quantization, unlike the CPU's Q8 dot products).
//   y[t, r] = sum_c W[r, c] * x[t, c]      t < n_tokens, r < rows
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/reserves.h"  // kGemvMaxBatch: the planner's view of the same limit

namespace tandem::gpu {

inline constexpr int32_t kGemvMaxTokens = kGemvMaxBatch;

struct GemvShape {
  int64_t rows = 0;      // output features (rows of W)
  int64_t cols = 0;      // input features, a multiple of 32 (the block size)
  int32_t n_tokens = 1;  // 1..kGemvMaxTokens
};

// w: device, [rows, cols / 32] blocks as GGUF stores them (BlockQ8_0 / BlockQ4_0 of
// core/quant_blocks.h, rows contiguous); x: device, [n_tokens, cols] f32;
// y: device, [n_tokens, rows] f32. cudaErrorInvalidValue for a shape off the contract.
cudaError_t gemv_q8_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q4_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);

}  // namespace tandem::gpu
