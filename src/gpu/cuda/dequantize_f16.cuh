// Quantized weights (GGUF block layout, on the device) to f16, and f32 activations to
// f16: the two conversions in front of gemm_quant's cuBLAS call. Each weight is the
// float cpu::dequantize_row_ref gives, rounded to the nearest half (dequant_f16.h), so
// dequantize_to_f16 doubles as the device check of the dequantizers: its output equals
// the reference rounded by core/fp16.h's f32_to_fp16 bit for bit (NaN aside: a block
// with a NaN scale gives a NaN of another payload).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace tandem::gpu {

// w: device, 16-byte aligned, [rows, cols / block] blocks as GGUF stores them (f16/bf16:
// [rows, cols] raw bits); out: device, 16-byte aligned, [n_rows, cols] half bits: rows
// [row_begin, row_begin + n_rows) of W. type: dequant_f16_supported (gemm_plan.h); cols a
// multiple of its block (32; 256 for K-quants). cudaErrorInvalidValue off the contract.
cudaError_t dequantize_rows_to_f16(DType type, const void* w, int64_t row_begin, int64_t n_rows, int64_t cols,
                                   uint16_t* out, cudaStream_t stream);

// All rows: out [rows, cols] half bits.
inline cudaError_t dequantize_to_f16(DType type, const void* w, int64_t rows, int64_t cols, uint16_t* out,
                                     cudaStream_t stream) {
  return dequantize_rows_to_f16(type, w, 0, rows, cols, out, stream);
}

// x: device, [n] f32; out: device, [n] half bits, round to nearest even (|x| >= 65520
// becomes inf, as __float2half_rn and f32_to_fp16 make it). cudaErrorInvalidValue for n < 0.
cudaError_t convert_f32_to_f16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream);

}  // namespace tandem::gpu
