// Reference element-wise and attention ops in f32. Kernels know nothing of models:
// every shape and layout is an argument.
#pragma once

#include <cstdint>
#include <span>

#include "core/dtype.h"

namespace tandem::cpu {

// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i], one row of n.
void rms_norm_ref(const float* x, const float* w, float* y, int64_t n, float eps);

enum class RopeStyle { kNormal, kNeox };  // pairs (2i, 2i+1) vs (i, i + n_rot/2)

struct RopeParams {
  int32_t n_rot = 0;            // rotated dims per head (even, <= head_dim)
  float freq_base = 10000.f;
  float freq_scale = 1.f;       // linear scaling: position * freq_scale
  RopeStyle style = RopeStyle::kNormal;
  const float* freq_factors = nullptr;  // [n_rot / 2] or null: theta_i /= factor_i (Llama 3.1)
};

// Rotates x in place: x is [n_heads, head_dim] for one token at `pos`.
void rope_ref(float* x, int32_t n_heads, int32_t head_dim, int32_t pos, const RopeParams& p);

// y[i] = silu(gate[i]) * up[i]
void silu_mul_ref(const float* gate, const float* up, float* y, int64_t n);

// In-place softmax of a row.
void softmax_ref(float* x, int64_t n);

// Paged KV cache view for one layer. Pools are laid out
//   K, V: [n_blocks, n_kv_heads, block_tokens, head_dim] of `type` (f32, f16, bf16 or
// q8_0); row r (one KV head's head_dim values of one token) starts at byte
// r * kv_row_bytes(type, head_dim). A q8_0 row is head_dim / 32 BlockQ8_0 blocks.
struct PagedKv {
  const void* k = nullptr;
  const void* v = nullptr;
  DType type = DType::kF32;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_tokens = 0;
};

// Decode attention of one query token over a sequence's first `n_ctx` cached tokens.
// q: [n_heads, head_dim]; out: [n_heads, head_dim]; block_table: [ceil(n_ctx/block_tokens)].
// Query head h reads KV head h / (n_heads / n_kv_heads). Online softmax, f32 math.
void attention_decode_ref(const float* q, int32_t n_heads, const PagedKv& kv,
                          std::span<const int32_t> block_table, int32_t n_ctx, float scale,
                          float* out);

// Whether `type` can be a KV cache type for rows of head_dim values: f32, f16, bf16
// (any head_dim > 0) or q8_0 (head_dim a multiple of 32).
bool kv_type_ok(DType type, int32_t head_dim);
// Bytes of one K or V row of head_dim values (kv_type_ok(type, head_dim) must hold):
// head_dim * 4 / 2 / 2 for f32 / f16 / bf16, head_dim / 32 * 34 for q8_0.
int64_t kv_row_bytes(DType type, int32_t head_dim);

// Reads one cached row (head_dim values) of K or V as f32 (q8_0: dequantize_row_ref's
// values, d * q).
void load_kv_row(const void* pool, DType type, int64_t row_index, int32_t head_dim, float* dst);
// Writes one row (head_dim values) into a K or V pool (q8_0: quantize_row_ref's blocks).
void store_kv_row(void* pool, DType type, int64_t row_index, int32_t head_dim, const float* src);

}  // namespace tandem::cpu
