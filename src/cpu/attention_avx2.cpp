// attention_span_avx2: one KV head's query group over a range of cached positions,
// 8 f32 lanes per vector. K and V rows are converted to f32 once per chunk of up to
// 16 positions (F16C's vcvtph2ps for f16, a 16-bit shift for bf16, d * q per 32-value
// block for q8_0 — the same products as dequantize_row_ref; f32 is read in place) and
// then used by every query head of the group. Built with AVX2 flags only;
// uses no inline or template code from shared headers (std::min/max are not used).
#include <immintrin.h>
#include <math.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/quant_blocks.h"
#include "cpu/attention_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kChunk = 16;    // positions per step; a step never crosses a block
constexpr int kMaxDim = 256;  // head_dim bound of the stack scratch

// n elements (n % 8 == 0) of an f16 or bf16 pool from element `off`, as f32.
void rows_to_f32(const void* pool, DType type, int64_t off, int64_t n, float* dst) {
  const uint16_t* p = static_cast<const uint16_t*>(pool) + off;
  if (type == DType::kF16) {
    for (int64_t i = 0; i < n; i += 8)
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))));
  } else {  // bf16: the high 16 bits of an f32
    for (int64_t i = 0; i < n; i += 8) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
      _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
  }
}

// n_blocks consecutive BlockQ8_0 blocks from `src` as f32 (d * q, one rounding, as
// dequantize_row_ref); dst: [n_blocks * 32].
void q8_0_to_f32(const std::byte* src, int64_t n_blocks, float* dst) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const std::byte* blk = src + b * static_cast<int64_t>(sizeof(BlockQ8_0));
    uint16_t dh;
    std::memcpy(&dh, blk + offsetof(BlockQ8_0, d), sizeof dh);
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
    const std::byte* qs = blk + offsetof(BlockQ8_0, qs);
    for (int i = 0; i < kQK; i += 8) {  // 8 int8 -> 8 int32 -> 8 f32
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + i));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
      _mm256_storeu_ps(dst + b * kQK + i, _mm256_mul_ps(q, d));
    }
  }
}

// Rows [row0, row0 + n) of a pool as f32: in place for f32, else converted into scratch.
// q8_0 rows are d / 32 blocks each (d % 32 == 0), contiguous across rows.
const float* rows_f32(const void* pool, DType type, int64_t row0, int32_t n, int32_t d,
                      float* scratch) {
  if (type == DType::kF32) return static_cast<const float*>(pool) + row0 * d;
  if (type == DType::kQ8_0) {
    const int64_t blocks_per_row = d / kQK;
    const auto* p = static_cast<const std::byte*>(pool) +
                    row0 * blocks_per_row * static_cast<int64_t>(sizeof(BlockQ8_0));
    q8_0_to_f32(p, n * blocks_per_row, scratch);
    return scratch;
  }
  rows_to_f32(pool, type, row0 * d, static_cast<int64_t>(n) * d, scratch);
  return scratch;
}

float hsum(__m256 s) {
  __m128 r = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

float dot(const float* a, const float* b, int32_t d) {  // d % 8 == 0
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int32_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  if (i < d) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  return hsum(_mm256_add_ps(s0, s1));
}

// acc[0, d) = acc * corr + sum_j p[j] * v[j, 0..d); v: [n, d].
void rescale_accumulate(float* acc, float corr, const float* p, const float* v, int32_t n,
                        int32_t d) {
  const __m256 c = _mm256_set1_ps(corr);
  int32_t i = 0;
  for (; i + 32 <= d; i += 32) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + i), c);
    __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(acc + i + 8), c);
    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(acc + i + 16), c);
    __m256 a3 = _mm256_mul_ps(_mm256_loadu_ps(acc + i + 24), c);
    for (int32_t j = 0; j < n; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const float* vj = v + static_cast<int64_t>(j) * d + i;
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
    }
    _mm256_storeu_ps(acc + i, a0);
    _mm256_storeu_ps(acc + i + 8, a1);
    _mm256_storeu_ps(acc + i + 16, a2);
    _mm256_storeu_ps(acc + i + 24, a3);
  }
  for (; i < d; i += 8) {
    __m256 a0 = _mm256_mul_ps(_mm256_loadu_ps(acc + i), c);
    for (int32_t j = 0; j < n; ++j)
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + static_cast<int64_t>(j) * d + i), a0);
    _mm256_storeu_ps(acc + i, a0);
  }
}

}  // namespace

void attention_span_avx2(const AttnSpan& a) {
  const PagedKv& kv = *a.kv;
  const int32_t d = kv.head_dim;
  const int32_t bt = kv.block_tokens;
  alignas(32) float kbuf[kChunk * kMaxDim];  // [n, d] converted K rows of one step
  alignas(32) float vbuf[kChunk * kMaxDim];  // [n, d] converted V rows of one step
  for (int32_t g = 0; g < a.group; ++g) {
    a.m[g] = -INFINITY;
    a.l[g] = 0.f;
    for (int32_t i = 0; i < d; ++i) a.acc[static_cast<int64_t>(g) * d + i] = 0.f;
  }
  for (int32_t t = a.t_begin; t < a.t_end;) {
    const int32_t off = t % bt;
    int32_t n = bt - off < kChunk ? bt - off : kChunk;
    if (a.t_end - t < n) n = a.t_end - t;
    const int64_t row0 = (static_cast<int64_t>(a.block_table[t / bt]) * kv.n_kv_heads + a.kv_head) * bt + off;
    const float* k = rows_f32(kv.k, kv.type, row0, n, d, kbuf);  // [n, d]
    const float* v = rows_f32(kv.v, kv.type, row0, n, d, vbuf);  // [n, d]
    for (int32_t g = 0; g < a.group; ++g) {
      const float* qg = a.q + static_cast<int64_t>(g) * d;
      float s[kChunk];
      float s_max = -INFINITY;
      for (int32_t j = 0; j < n; ++j) {
        s[j] = dot(qg, k + static_cast<int64_t>(j) * d, d) * a.scale;
        if (s[j] > s_max) s_max = s[j];
      }
      const float m_new = s_max > a.m[g] ? s_max : a.m[g];
      const float corr = expf(a.m[g] - m_new);  // 0 on the first step (m = -inf)
      float sum = 0.f;
      for (int32_t j = 0; j < n; ++j) {
        s[j] = expf(s[j] - m_new);
        sum += s[j];
      }
      a.l[g] = a.l[g] * corr + sum;
      rescale_accumulate(a.acc + static_cast<int64_t>(g) * d, corr, s, v, n, d);
      a.m[g] = m_new;
    }
    t += n;
  }
}

}  // namespace tandem::cpu
