// Per-type reference kernels behind the dispatch in quant_ref.h. Optimized kernels and
// tests may call these directly. `n` is the number of elements (a multiple of the block
// size: 32 for the legacy types, 256 for the K types); pointers address whole rows.
#pragma once

#include <cstdint>

#include "core/quant_blocks.h"

namespace tandem::cpu {

// ---- plain floats (quant_float_ref.cpp) --------------------------------------------
// f16/bf16 values are raw bits. Conversions round to nearest even.
void dequantize_f16_ref(const uint16_t* x, float* y, int64_t n);
void dequantize_bf16_ref(const uint16_t* x, float* y, int64_t n);
void quantize_f16_ref(const float* x, uint16_t* y, int64_t n);
void quantize_bf16_ref(const float* x, uint16_t* y, int64_t n);
// Products (exact in f32 for f16/bf16 operands) summed in f32, in index order.
float vec_dot_f32_ref(int64_t n, const float* w, const float* x);
float vec_dot_f16_ref(int64_t n, const uint16_t* w, const uint16_t* x);
float vec_dot_bf16_ref(int64_t n, const uint16_t* w, const uint16_t* x);

// ---- legacy blocks of 32 (quant_legacy_ref.cpp) -----------------------------------
void dequantize_q4_0_ref(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_q4_1_ref(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_q5_0_ref(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_q5_1_ref(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_q8_0_ref(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_q8_1_ref(const BlockQ8_1* x, float* y, int64_t n);  // ignores s

// GGML's reference quantizers (quantize_row_*_ref), operation for operation.
void quantize_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n);
void quantize_q4_1_ref(const float* x, BlockQ4_1* y, int64_t n);
void quantize_q5_0_ref(const float* x, BlockQ5_0* y, int64_t n);
void quantize_q5_1_ref(const float* x, BlockQ5_1* y, int64_t n);
// Activation quantizers: d = amax/127, id = d ? 1/d : 0 (from the f32 d), q = roundf(x*id)
// (half away from zero), d stored as f16. Q8_1 adds s = f16(d * sum(q)).
void quantize_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n);
void quantize_q8_1_ref(const float* x, BlockQ8_1* y, int64_t n);

// Integer sums inside a block, sumf += (d_w * d_x) * isum [+ m_w * s_x] across blocks.
float vec_dot_q4_0_q8_0_ref(int64_t n, const BlockQ4_0* w, const BlockQ8_0* x);
float vec_dot_q4_1_q8_1_ref(int64_t n, const BlockQ4_1* w, const BlockQ8_1* x);
float vec_dot_q5_0_q8_0_ref(int64_t n, const BlockQ5_0* w, const BlockQ8_0* x);
float vec_dot_q5_1_q8_1_ref(int64_t n, const BlockQ5_1* w, const BlockQ8_1* x);
float vec_dot_q8_0_q8_0_ref(int64_t n, const BlockQ8_0* w, const BlockQ8_0* x);

// ---- K-quant super-blocks of 256 (quant_k_ref.cpp, quant_k_quantize_ref.cpp) -------
void dequantize_q2_k_ref(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_q3_k_ref(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_q4_k_ref(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_q5_k_ref(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_q6_k_ref(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_q8_k_ref(const BlockQ8_K* x, float* y, int64_t n);

// Weight quantizers: per sub-block a weighted least-squares scale/min search (GGML's
// make_qkx2_quants for Q4_K/Q5_K, make_qx_quants for Q6_K), then 6-bit (Q4_K/Q5_K) or
// int8 (Q6_K) scales relative to an f16 super-block scale. Q2_K: the same scale/min
// search per sub-block of 16 with |x| weights and a weighted absolute-error criterion
// (make_qkx2_quants with use_mad), 4-bit scales and mins. Q3_K: a symmetric search
// per sub-block of 16 weighted by x^2 (make_q3_quants), 6-bit scales.
void quantize_q2_k_ref(const float* x, BlockQ2_K* y, int64_t n);
void quantize_q3_k_ref(const float* x, BlockQ3_K* y, int64_t n);
void quantize_q4_k_ref(const float* x, BlockQ4_K* y, int64_t n);
void quantize_q5_k_ref(const float* x, BlockQ5_K* y, int64_t n);
void quantize_q6_k_ref(const float* x, BlockQ6_K* y, int64_t n);
// Activation quantizer: max = the value of largest |x| (sign kept); amax == 0 -> all
// zero; else iscale = -127/max, q = min(127, nearest_int(iscale*x)) (half to even),
// d = 1/iscale (f32), bsums[g] = sum of q[16g .. 16g+15].
void quantize_q8_k_ref(const float* x, BlockQ8_K* y, int64_t n);

float vec_dot_q2_k_q8_k_ref(int64_t n, const BlockQ2_K* w, const BlockQ8_K* x);
float vec_dot_q3_k_q8_k_ref(int64_t n, const BlockQ3_K* w, const BlockQ8_K* x);
float vec_dot_q4_k_q8_k_ref(int64_t n, const BlockQ4_K* w, const BlockQ8_K* x);
float vec_dot_q5_k_q8_k_ref(int64_t n, const BlockQ5_K* w, const BlockQ8_K* x);
float vec_dot_q6_k_q8_k_ref(int64_t n, const BlockQ6_K* w, const BlockQ8_K* x);
float vec_dot_q8_k_q8_k_ref(int64_t n, const BlockQ8_K* w, const BlockQ8_K* x);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, from the 12
// packed bytes: j < 4: sc = s[j] & 63, m = s[j+4] & 63; j >= 4: low 4 bits in s[j+4]
// (sc low nibble, m high nibble), high 2 bits in the top bits of s[j-4] (sc) and s[j] (m).
struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};
inline ScaleMin k4_scale_min(int j, const uint8_t* s) {
  if (j < 4) return {static_cast<uint8_t>(s[j] & 63), static_cast<uint8_t>(s[j + 4] & 63)};
  return {static_cast<uint8_t>((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4)),
          static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4))};
}

// The scale of sub-block s (0..15) of a Q3_K block, -32..31, from the 12 packed bytes:
// low 4 bits in the low (s < 8) or high (s >= 8) nibble of sc[s % 8], high 2 bits in
// bits 2 (s / 4), 2 (s / 4) + 1 of sc[8 + s % 4]; stored + 32.
inline int q3k_scale(int s, const uint8_t* sc) {
  const int low = s < 8 ? (sc[s] & 0x0f) : (sc[s - 8] >> 4);
  const int high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | (high << 4)) - 32;
}

}  // namespace tandem::cpu
