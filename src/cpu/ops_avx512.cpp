// AVX-512 elementwise kernels (ops.h). Built with the AVX-512 flags only.
#include <immintrin.h>

#include "cpu/exp_avx512_inl.h"
#include "cpu/ops.h"

namespace tandem::cpu {
namespace {

// silu(g) = g / (1 + e^-g). With e = e^-|g| (always <= 1, no overflow):
// g >= 0: g / (1 + e); g < 0: g e / (1 + e) (the same value, as e^g = e).
[[gnu::always_inline]] inline __m512 silu(__m512 g) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_and_ps(g, abs_mask)));
  const __mmask16 neg = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_mul_ps(g, neg, g, e);
  return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

}  // namespace

void silu_mul_avx512(const float* gate, const float* up, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_mul_ps(silu(_mm512_loadu_ps(gate + i)), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(silu(g), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

}  // namespace tandem::cpu
