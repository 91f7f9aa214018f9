// Dequantizing matrix-vector products for decode batches of 1..8 tokens: each weight
// block is read once and multiplied with every token's activations (f32 math, f32
// activations; no activation quantization, unlike the CPU's Q8 dot products).
//   y[t, r] = sum_c W[r, c] * x[t, c]      t < n_tokens, r < rows
// Every weight is dequantized to exactly the float cpu::dequantize_row_ref gives
// (dequant_legacy.h, dequant_k.h); only the f32 sums run in another order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/reserves.h"  // kGemvMaxBatch: the planner's view of the same limit

namespace tandem::gpu {

inline constexpr int32_t kGemvMaxTokens = kGemvMaxBatch;

struct GemvShape {
  int64_t rows = 0;      // output features (rows of W)
  int64_t cols = 0;      // input features: a multiple of the type's block (32; 256 for K-quants)
  int32_t n_tokens = 1;  // 1..kGemvMaxTokens
};

// w: device, 16-byte aligned, [rows, cols / block] blocks as GGUF stores them
// (core/quant_blocks.h, rows contiguous; f16/bf16: [rows, cols] raw bits);
// x: device, 16-byte aligned, [n_tokens, cols] f32; y: device, [n_tokens, rows] f32.
// cudaErrorInvalidValue for a shape or an alignment off the contract.
using GemvFn = cudaError_t (*)(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);

// Blocks of 32 weights.
cudaError_t gemv_q8_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q4_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q4_1(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q5_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q5_1(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
// Plain half-precision weights (cols a multiple of 32).
cudaError_t gemv_f16(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_bf16(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
// K-quant super-blocks of 256 weights.
cudaError_t gemv_q2_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q3_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q4_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q5_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);
cudaError_t gemv_q6_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream);

}  // namespace tandem::gpu
