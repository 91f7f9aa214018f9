// Reference kernels for the plain float types: F32, F16 and BF16.
#include "core/fp16.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem::cpu {

void dequantize_f16_ref(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void dequantize_bf16_ref(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void quantize_f16_ref(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

void quantize_bf16_ref(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

float vec_dot_f32_ref(int64_t n, const float* w, const float* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

// An f16 (or bf16) has at most 11 (8) significant bits, so each product is exact in
// f32; only the running sum rounds.
float vec_dot_f16_ref(int64_t n, const uint16_t* w, const uint16_t* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_f32(w[i]) * fp16_to_f32(x[i]);
  return sum;
}

float vec_dot_bf16_ref(int64_t n, const uint16_t* w, const uint16_t* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(w[i]) * bf16_to_f32(x[i]);
  return sum;
}

}  // namespace tandem::cpu
