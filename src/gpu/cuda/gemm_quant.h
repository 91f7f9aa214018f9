// Matrix products over quantized weights for prefill chunks and decode batches past
// the GEMV's kGemvMaxTokens (up to a 512-token chunk):
//   y[t, r] = sum_c W[r, c] * x[t, c]      t < n_tokens, r < rows
// Path A: x is converted to f16 once into the input workspace; W is dequantized panel by
// panel (gemm_plan.h) to f16 into the weight workspace (dequantize_f16.cuh: the
// reference's floats rounded to half), and each panel is one cublasGemmEx (f16 inputs,
// f32 accumulation and output, tensor cores where the GPU has them). All on one stream,
// so a panel's dequantization waits for the previous panel's product.
//
// Accuracy, against the f32 weights cpu::dequantize_row_ref gives and the f32 x, summed
// exactly: each weight and activation is rounded to half (relative error <= u = 2^-11 for
// normal halves, absolute <= 2^-25 below 2^-14), each product of halves is exact in f32,
// and the sum runs in f32:
//   |y - exact| <= (2u + u^2) S + 2^-24 sum_c (|W[r,c]| + |x[t,c]|) + cols 2^-50 + gamma S'
// S = sum_c |W[r,c] x[t,c]|, S' the same over the rounded values, gamma = cols 2^-22 for
// the f32 sums (twice the rounding bound: tensor cores may truncate). The first three
// terms come from the rounding to half, the last from the order of the sums;
// tests/gpu/gemm_quant_test.cpp checks both parts separately.
// Activations of magnitude >= 65520 become inf in f16: the result is then inf or NaN.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "gpu/cuda/gemm_plan.h"

namespace tandem::gpu {

// The memory plan's dequantization workspace (ExecutorDesc::workspace_weights and
// workspace_input), device memory the call may overwrite.
struct GemmWorkspace {
  void* weights = nullptr;    // 16-byte aligned: a panel of W as f16, [panel_rows, cols]
  uint64_t weight_bytes = 0;  // >= 2 cols (one row); a whole matrix when >= 2 rows cols
  void* input = nullptr;      // 16-byte aligned: x as f16, [n_tokens, cols]
  uint64_t input_bytes = 0;   // >= 2 n_tokens cols
};

// w: device, 16-byte aligned, [rows, cols / block] blocks as GGUF stores them (f16/bf16:
// [rows, cols] raw bits); type: dequant_f16_supported. x: device, [n_tokens, cols] f32;
// y: device, [n_tokens, rows] f32 (overwritten).
// blas must already be bound to `stream` (CublasHandle::set_stream, then set_workspace:
// cublasSetStream resets the workspace, so this call never rebinds it) and in host
// pointer mode. kInvalidArgument for a shape, type, alignment, workspace or handle off
// the contract (before any launch); a failed launch or cuBLAS call comes back with the
// call, the panel and the sizes.
Status gemm_quant(cublasHandle_t blas, DType type, const void* w, const float* x, float* y, const GemmShape& s,
                  const GemmWorkspace& ws, cudaStream_t stream);

}  // namespace tandem::gpu
