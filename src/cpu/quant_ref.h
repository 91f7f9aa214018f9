// Reference (plain, obvious) kernels for every tensor type: dequantize, quantize and
// dot products. These are the oracles the optimized kernels are tested against, and
// the CPU path of the foundation engine.
//
// Dot products follow the scheme fast engines use: the activation vector is first
// converted to the weight type's "dot type" (F16 weights -> f16 activations, BF16 ->
// bf16, Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1, K-quants -> Q8_K, F32 -> f32), then
// the dot runs on integers inside blocks with f32 accumulation across blocks.
//
// Types handled: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (activations only:
// no vec_dot), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K. Any other type is a caller bug (TANDEM_CHECK).
// Byte layouts: core/quant_blocks.h. Per-type entry points: cpu/quant_ref_kernels.h.
//
// Matching llama.cpp (ggml-cpu): dequantization is bit-exact with GGML's layouts;
// activation quantizers (Q8_0, Q8_1, Q8_K) are GGML's *reference* quantizers
// (quantize_row_q8_0_ref etc.); weight quantizers for the legacy types are GGML's
// reference quantizers, the K-quant ones follow GGML's search (see quant_k_quantize_ref.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tandem::cpu {

// n must be a multiple of the type's block size (callers check; the kernels assert).
// src: row of type t (row_bytes(t, n) bytes); dst: n floats.
void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n);
// Round-to-nearest quantization of a row (used by the writer, make-model and for
// quantizing activations). Supported for every type in `traits(t).supported` plus Q8_1.
// src: n floats; dst: quantized_row_bytes(t, n) bytes.
void quantize_row_ref(DType t, const float* src, void* dst, int64_t n);

// Bytes of a row of n elements of type t (n a multiple of the block size; asserts).
size_t quantized_row_bytes(DType t, int64_t n);

// The activation type that `vec_dot_ref(t, ...)` expects.
DType vec_dot_type(DType t);
// Converts an activation row to vec_dot_type(t): quantize_row_ref(vec_dot_type(t), ...).
// dst: quantized_row_bytes(vec_dot_type(t), n) bytes.
void quantize_activation_ref(DType t, const float* x, void* dst, int64_t n);
// sum_i w[i] * x[i] with w a row of type t and x already in vec_dot_type(t).
float vec_dot_ref(DType t, int64_t n, const void* w, const void* x);

// y[r] = sum_c W[r, c] * x[c] for r < rows, W rows of type t, row-major, `cols`
// elements each (x quantized to the dot type internally). Single-threaded.
void gemv_ref(DType t, const void* w, int64_t rows, int64_t cols, const float* x, float* y);

// The same for rows [row_begin, row_end) only, with x already converted by
// quantize_activation_ref(t, ...), so a matmul quantizes its activation once and
// splits rows across threads. w points at row 0 of W (row r starts at
// r * quantized_row_bytes(t, cols)); y is indexed by absolute row: writes
// y[row_begin .. row_end).
void gemv_rows_ref(DType t, const void* w, int64_t row_begin, int64_t row_end, int64_t cols,
                   const void* x_q, float* y);

}  // namespace tandem::cpu
