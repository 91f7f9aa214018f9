// AVX2 activation quantizers for the packed kernels on the AVX2 lane (packed_kernels.h),
// built with -mavx2 -mfma -mf16c -ffp-contract=off only. They perform the same IEEE
// operations as the reference quantizers (and as their AVX-512 twins), so they write
// the same bytes:
//   ActBlock32 (quantize_row_ref(kQ8_0)): amax, d = amax / 127, id = 1 / d (0 for an
//     all-zero block), d rounded to f16 by vcvtps2ph (round to nearest even, as
//     f32_to_fp16), q = x * id rounded half away from zero (std::round): truncate, then
//     step away from zero where the dropped fraction (exact: p - trunc(p)) is >= 1/2.
//   ActBlockQ8_1 (quantize_row_ref(kQ8_1)): the same d and q, and s = float(sum(q)) * d
//     (d before rounding) rounded to f16 by vcvtps2ph.
//   BlockQ8_K (quantize_q8_k_ref): max = the FIRST element of largest magnitude,
//     iscale = -127 / max, q = min(127, nearbyint(iscale * x)) (vcvtps2dq in the default
//     rounding mode), bsums from the int32 values, d = 1 / iscale.
// Every q lies in [-127, 127], so the saturating packs to int16 and int8 are exact.
//
// Everything here has internal linkage except the entry points.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "core/quant_blocks.h"
#include "cpu/packed_kernels.h"

namespace tandem::cpu {
namespace {

[[gnu::always_inline]] inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

[[gnu::always_inline]] inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// 32 int32 values in [-128, 127] (a, b, c, d: elements 0-7, 8-15, 16-23, 24-31) as 32
// bytes in element order. The packs work per 128-bit lane, so the dwords come out as
// a0 b0 c0 d0 | a1 b1 c1 d1 (x0: elements 0-3 of x, x1: 4-7) and are put back in order.
[[gnu::always_inline]] inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// f rounded to f16 by vcvtps2ph (round to nearest even, as f32_to_fp16), then widened.
[[gnu::always_inline]] inline float round_f16(float f) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
}

template <typename Block>
void quantize_blocks32(const float* x, Block* dst, int64_t nb, int64_t dst_step) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t b = 0; b < nb; ++b, x += 32) {
    __m256 v[4];
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    const __m256 m01 = _mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask));
    const __m256 m23 = _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask));
    const float amax = hmax(_mm256_max_ps(m01, m23));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    Block& o = dst[b * dst_step];
    o.d = round_f16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256 p = _mm256_mul_ps(v[k], vid);
      const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 up = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(p, t), abs_mask), half, _CMP_GE_OQ);
      const __m256 away = _mm256_or_ps(one, _mm256_andnot_ps(abs_mask, p));  // +-1 with p's sign
      q[k] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, away)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), pack_bytes(q[0], q[1], q[2], q[3]));
    const int32_t sum = hsum(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    if constexpr (std::is_same_v<Block, ActBlockQ8_1>) o.s = round_f16(static_cast<float>(sum) * d);
    else o.sum = sum;
  }
}

}  // namespace

void quantize_act32_avx2(const float* x, ActBlock32* dst, int64_t nb, int64_t dst_step) {
  quantize_blocks32(x, dst, nb, dst_step);
}
void quantize_act32_q8_1_avx2(const float* x, ActBlockQ8_1* dst, int64_t nb, int64_t dst_step) {
  quantize_blocks32(x, dst, nb, dst_step);
}

void quantize_q8_k_avx2(const float* x, BlockQ8_K* y, int64_t nb) {
  constexpr int kVec = kQK_K / 8;  // 32 vectors of 8 floats per block
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < nb; ++b, x += kQK_K) {
    BlockQ8_K& o = y[b];
    __m256 m = _mm256_setzero_ps();
    for (int v = 0; v < kVec; ++v) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8 * v), abs_mask));
    const float amax = hmax(m);
    if (amax == 0.0f) {
      std::memset(&o, 0, sizeof(o));
      continue;
    }
    const __m256 vamax = _mm256_set1_ps(amax);
    float max = 0.0f;
    for (int v = 0; v < kVec; ++v) {
      const __m256 xv = _mm256_loadu_ps(x + 8 * v);
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(xv, abs_mask), vamax, _CMP_EQ_OQ));
      if (hit != 0) {
        max = x[8 * v + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int g = 0; g < kQK_K / 32; ++g) {  // 32 values: two bsums groups
      __m256i q[4];
      #pragma GCC unroll 4
      for (int k = 0; k < 4; ++k)
        q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * g + 8 * k))), top);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs + 32 * g), pack_bytes(q[0], q[1], q[2], q[3]));
      o.bsums[2 * g] = static_cast<int16_t>(hsum(_mm256_add_epi32(q[0], q[1])));
      o.bsums[2 * g + 1] = static_cast<int16_t>(hsum(_mm256_add_epi32(q[2], q[3])));
    }
    o.d = 1.0f / iscale;
  }
}

}  // namespace tandem::cpu
