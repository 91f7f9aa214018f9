// AVX-512 Q8_K activation quantizer (packed_kernels.h), built with the AVX-512 flags
// only. The same operations as quantize_q8_k_ref, so the same bytes:
//   max = the FIRST element of largest magnitude (the reference keeps the first on ties),
//   iscale = -127 / max, q = min(127, round-to-nearest-even(iscale * x)) (vcvtps2dq in
//   the default rounding mode is nearbyint), bsums from the int32 lanes, d = 1 / iscale.
#include <immintrin.h>

#include <cstring>

#include "core/quant_blocks.h"
#include "cpu/packed_kernels.h"

namespace tandem::cpu {

void quantize_q8_k_avx512(const float* x, BlockQ8_K* y, int64_t nb) {
  constexpr int kVec = kQK_K / 16;  // 16 vectors of 16 floats per block
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < nb; ++b, x += kQK_K) {
    BlockQ8_K& o = y[b];
    __m512 m = _mm512_setzero_ps();
    for (int v = 0; v < kVec; ++v) m = _mm512_max_ps(m, _mm512_and_ps(_mm512_loadu_ps(x + 16 * v), abs_mask));
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0.0f) {
      std::memset(&o, 0, sizeof(o));
      continue;
    }
    const __m512 vamax = _mm512_set1_ps(amax);
    float max = 0.0f;
    for (int v = 0; v < kVec; ++v) {
      const __m512 xv = _mm512_loadu_ps(x + 16 * v);
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_and_ps(xv, abs_mask), vamax, _CMP_EQ_OQ);
      if (hit != 0) {
        max = x[16 * v + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    const __m512i top = _mm512_set1_epi32(127);
    for (int v = 0; v < kVec; ++v) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * v))), top);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16 * v), _mm512_cvtepi32_epi8(q));
      o.bsums[v] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    o.d = 1.0f / iscale;
  }
}

}  // namespace tandem::cpu
