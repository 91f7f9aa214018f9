// A vector e^x for x <= 0, shared by the AVX-512 kernel files (attention, elementwise
// ops). Included ONLY by files built with the AVX-512 flags; it is in an unnamed
// namespace so each of them compiles its own copy (see gemv_rows_inl.h).
#pragma once

#include <immintrin.h>

namespace tandem::cpu {
namespace {

// e^x for x <= 0 (lanes of -inf give 0): x = n ln2 + r with |r| <= ln2 / 2, e^r by its
// degree-7 Taylor polynomial (truncation below 6e-9 relative, under f32 rounding), then
// scaled by 2^n with vscalefps (which also flushes n < -149 to 0). Within a few f32 ulps
// of expf.
[[maybe_unused]] inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.f));  // e^-104 is below the f32 denormals
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);  // ln2 high part, exact n*hi
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);      // ln2 low part
  __m512 p = _mm512_set1_ps(1.f / 5040.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace
}  // namespace tandem::cpu
