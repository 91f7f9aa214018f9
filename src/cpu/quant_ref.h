// Reference (plain, obvious) kernels for every tensor type: dequantize, quantize and
// dot products. These are the oracles the optimized kernels are tested against, and
// the CPU path of the foundation engine.
//
// Dot products follow the scheme fast engines use: the activation vector is first
// converted to the weight type's "dot type" (F16 weights -> f16 activations, BF16 ->
// bf16, Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1, K-quants -> Q8_K, F32 -> f32), then
// the dot runs on integers inside blocks with f32 accumulation across blocks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace tandem::cpu {

// n must be a multiple of the type's block size (callers check; the kernels assert).
void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n);
// Round-to-nearest quantization of a row (used by the writer, make-model and for
// quantizing activations). Supported for every type in `traits(t).supported` plus Q8_1.
void quantize_row_ref(DType t, const float* src, void* dst, int64_t n);

// The activation type that `vec_dot_ref(t, ...)` expects.
DType vec_dot_type(DType t);
// sum_i w[i] * x[i] with w a row of type t and x already in vec_dot_type(t).
float vec_dot_ref(DType t, int64_t n, const void* w, const void* x);

// y[r] = sum_c W[r, c] * x[c] for r < rows, W rows of type t, row-major, `cols`
// elements each (x quantized to the dot type internally). Single-threaded.
void gemv_ref(DType t, const void* w, int64_t rows, int64_t cols, const float* x, float* y);

}  // namespace tandem::cpu
