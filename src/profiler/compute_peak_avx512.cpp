// The vpdpbusd loop of measure_int8_peak (compute_peak.h), built with AVX-512 VNNI flags.
#include <immintrin.h>

#include "profiler/compute_peak.h"

namespace tandem::profiler {

// Sixteen named accumulators (an array would be kept on the stack by GCC, and each
// chain would then pay a store and a reload per step).
int vnni_dpbusd_loop(long iters) {
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
#define TANDEM_ACC(i) __m512i c##i = _mm512_set1_epi32(i);
  TANDEM_ACC(0) TANDEM_ACC(1) TANDEM_ACC(2) TANDEM_ACC(3) TANDEM_ACC(4) TANDEM_ACC(5) TANDEM_ACC(6) TANDEM_ACC(7)
  TANDEM_ACC(8) TANDEM_ACC(9) TANDEM_ACC(10) TANDEM_ACC(11) TANDEM_ACC(12) TANDEM_ACC(13) TANDEM_ACC(14) TANDEM_ACC(15)
#undef TANDEM_ACC
  for (long it = 0; it < iters; ++it) {
#define TANDEM_STEP(i) c##i = _mm512_dpbusd_epi32(c##i, a, b);
    TANDEM_STEP(0) TANDEM_STEP(1) TANDEM_STEP(2) TANDEM_STEP(3) TANDEM_STEP(4) TANDEM_STEP(5) TANDEM_STEP(6)
    TANDEM_STEP(7) TANDEM_STEP(8) TANDEM_STEP(9) TANDEM_STEP(10) TANDEM_STEP(11) TANDEM_STEP(12) TANDEM_STEP(13)
    TANDEM_STEP(14) TANDEM_STEP(15)
#undef TANDEM_STEP
  }
  const __m512i s = _mm512_add_epi32(
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                       _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7))),
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)),
                       _mm512_add_epi32(_mm512_add_epi32(c12, c13), _mm512_add_epi32(c14, c15))));
  return _mm512_reduce_add_epi32(s);
}

}  // namespace tandem::profiler
