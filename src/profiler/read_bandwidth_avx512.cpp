// Compiled with -mavx512f only (src/profiler/CMakeLists.txt).
#include <immintrin.h>

#include "profiler/read_bandwidth.h"

namespace tandem::profiler {

uint64_t sum_words_avx512(const void* p, size_t bytes) {
  const auto* c = static_cast<const uint8_t*>(p);
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < bytes; i += 256) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(c + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(c + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(c + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(c + i + 192));
  }
  return static_cast<uint64_t>(
      _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
}

}  // namespace tandem::profiler
