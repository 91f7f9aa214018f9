#include "cpu/ops_ref.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/check.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {

void rms_norm_ref(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0;  // ggml sums squares in a wider type too; f64 keeps the oracle exact
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void rope_ref(float* x, int32_t n_heads, int32_t head_dim, int32_t pos, const RopeParams& p) {
  TANDEM_CHECK(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim) << "n_rot " << p.n_rot;
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  const int32_t half = p.n_rot / 2;
  std::vector<float> cos_t(half), sin_t(half);
  float theta = static_cast<float>(pos) * p.freq_scale;
  for (int32_t i = 0; i < half; ++i) {
    const float t = p.freq_factors ? theta / p.freq_factors[i] : theta;
    cos_t[i] = std::cos(t);
    sin_t[i] = std::sin(t);
    theta *= theta_scale;
  }
  for (int32_t h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int32_t i = 0; i < half; ++i) {
      const int32_t a = p.style == RopeStyle::kNormal ? 2 * i : i;
      const int32_t b = p.style == RopeStyle::kNormal ? 2 * i + 1 : i + half;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cos_t[i] - x1 * sin_t[i];
      v[b] = x0 * sin_t[i] + x1 * cos_t[i];
    }
  }
}

void silu_mul_ref(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax_ref(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

bool kv_type_ok(DType type, int32_t head_dim) {
  if (head_dim <= 0) return false;
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return true;
    case DType::kQ8_0:
      return head_dim % kQK == 0;
    default:
      return false;
  }
}

int64_t kv_row_bytes(DType type, int32_t head_dim) {
  TANDEM_CHECK(kv_type_ok(type, head_dim))
      << "KV type " << dtype_name(type) << " cannot hold rows of head_dim " << head_dim;
  if (type == DType::kQ8_0) return int64_t{head_dim} / kQK * static_cast<int64_t>(sizeof(BlockQ8_0));
  return int64_t{head_dim} * (type == DType::kF32 ? 4 : 2);
}

void load_kv_row(const void* pool, DType type, int64_t row_index, int32_t head_dim, float* dst) {
  const int64_t off = row_index * head_dim;
  switch (type) {
    case DType::kF32: {
      const float* p = static_cast<const float*>(pool) + off;
      std::copy(p, p + head_dim, dst);
      return;
    }
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(pool) + off;
      for (int32_t i = 0; i < head_dim; ++i) dst[i] = fp16_to_f32(p[i]);
      return;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(pool) + off;
      for (int32_t i = 0; i < head_dim; ++i) dst[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::kQ8_0: {
      const std::byte* p = static_cast<const std::byte*>(pool) + row_index * kv_row_bytes(type, head_dim);
      dequantize_row_ref(DType::kQ8_0, p, dst, head_dim);
      return;
    }
    default:
      TANDEM_CHECK(false) << "KV type " << dtype_name(type) << " has no row loader";
  }
}

void store_kv_row(void* pool, DType type, int64_t row_index, int32_t head_dim, const float* src) {
  const int64_t off = row_index * head_dim;
  switch (type) {
    case DType::kF32:
      std::copy(src, src + head_dim, static_cast<float*>(pool) + off);
      return;
    case DType::kF16: {
      uint16_t* p = static_cast<uint16_t*>(pool) + off;
      for (int32_t i = 0; i < head_dim; ++i) p[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::kBF16: {
      uint16_t* p = static_cast<uint16_t*>(pool) + off;
      for (int32_t i = 0; i < head_dim; ++i) p[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kQ8_0: {
      std::byte* p = static_cast<std::byte*>(pool) + row_index * kv_row_bytes(type, head_dim);
      quantize_row_ref(DType::kQ8_0, src, p, head_dim);
      return;
    }
    default:
      TANDEM_CHECK(false) << "KV type " << dtype_name(type) << " has no row writer";
  }
}

void attention_decode_ref(const float* q, int32_t n_heads, const PagedKv& kv,
                          std::span<const int32_t> block_table, int32_t n_ctx, float scale,
                          float* out) {
  const int32_t d = kv.head_dim;
  const int32_t group = n_heads / kv.n_kv_heads;
  TANDEM_CHECK(group * kv.n_kv_heads == n_heads) << n_heads << " heads, " << kv.n_kv_heads << " KV heads";
  TANDEM_CHECK(static_cast<int64_t>(block_table.size()) * kv.block_tokens >= n_ctx)
      << "block table of " << block_table.size() << " blocks for " << n_ctx << " tokens";
  std::vector<float> krow(d), vrow(d), acc(d);
  for (int32_t h = 0; h < n_heads; ++h) {
    const int32_t kvh = h / group;
    const float* qh = q + static_cast<int64_t>(h) * d;
    float m = -INFINITY;
    double l = 0;
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int32_t t = 0; t < n_ctx; ++t) {
      const int64_t block = block_table[t / kv.block_tokens];
      const int64_t row = (block * kv.n_kv_heads + kvh) * kv.block_tokens + t % kv.block_tokens;
      load_kv_row(kv.k, kv.type, row, d, krow.data());
      float s = 0;
      for (int32_t i = 0; i < d; ++i) s += qh[i] * krow[i];
      s *= scale;
      const float m_new = std::max(m, s);
      const float corr = std::exp(m - m_new);  // 0 on the first token (m = -inf)
      const float p = std::exp(s - m_new);
      l = l * corr + p;
      load_kv_row(kv.v, kv.type, row, d, vrow.data());
      for (int32_t i = 0; i < d; ++i) acc[i] = acc[i] * corr + p * vrow[i];
      m = m_new;
    }
    float* oh = out + static_cast<int64_t>(h) * d;
    const float inv = l > 0 ? static_cast<float>(1.0 / l) : 0.f;
    for (int32_t i = 0; i < d; ++i) oh[i] = acc[i] * inv;
  }
}

}  // namespace tandem::cpu
