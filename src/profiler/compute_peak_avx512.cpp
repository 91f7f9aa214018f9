// The vpdpbusd loop of measure_int8_peak (compute_peak.h), built with AVX-512 VNNI flags.
#include <immintrin.h>

#include "profiler/compute_peak.h"

namespace tandem::profiler {

int vnni_dpbusd_loop(long iters) {
  constexpr int kAcc = 16;  // enough independent chains to cover latency x throughput
  __m512i acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (long it = 0; it < iters; ++it) {
    #pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
  }
  __m512i s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_epi32(s, acc[i]);
  return _mm512_reduce_add_epi32(s);
}

}  // namespace tandem::profiler
