// The 4-row pass shared by the integer GEMV kernel files (gemv_legacy_*.cpp,
// gemv_kquant_*.cpp): which rows a pass reads, the prefetch of the next pass, storing
// the four results, and small AVX2/F16C helpers.
//
// Included ONLY by those files, each built with its own ISA's flags. Everything is in
// an unnamed namespace, so every translation unit gets its own copy compiled with its
// own flags: the linker never merges an AVX-512 build of these functions into an AVX2
// file (the hazard gemv_kernels.h warns about for inline code with external linkage).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "cpu/gemv_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kRows = 4;  // weight rows per pass

// Rows r .. r+3 of W, clamped to the last row: the surplus lanes recompute that row
// and are not stored.
template <typename B>
struct Rows4 {
  const B* p[kRows];
  // The next pass's rows (r+4 .. r+7, at most row_end), contiguous: next_bytes bytes
  // at `next`. This pass's four rows are four short streams the hardware prefetcher
  // finds late, so block iteration b fetches the b-th 4-block share of those bytes.
  const char* next;
  size_t next_bytes;
  [[gnu::always_inline]] inline void prefetch_next(int64_t b) const {
    constexpr size_t kStep = kRows * sizeof(B);
    const size_t begin = static_cast<size_t>(b) * kStep;
    const size_t end = begin + kStep < next_bytes ? begin + kStep : next_bytes;
    for (size_t off = begin; off < end; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
  }
};

template <typename B>
[[gnu::always_inline]] inline Rows4<B> rows4(const GemvRows& a, int64_t r) {
  Rows4<B> rw;
  const auto* base = static_cast<const uint8_t*>(a.w);
  #pragma GCC unroll 4
  for (int i = 0; i < kRows; ++i) {
    const int64_t row = r + i < a.row_end ? r + i : a.row_end - 1;
    rw.p[i] = reinterpret_cast<const B*>(base + static_cast<size_t>(row) * a.w_stride);
  }
  const int64_t next_rows = a.row_end - (r + kRows) < kRows ? a.row_end - (r + kRows) : kRows;
  rw.next = reinterpret_cast<const char*>(base);
  rw.next_bytes = 0;
  if (next_rows > 0) {
    rw.next = reinterpret_cast<const char*>(base + static_cast<size_t>(r + kRows) * a.w_stride);
    rw.next_bytes = static_cast<size_t>(next_rows) * a.w_stride;
  }
  return rw;
}

[[gnu::always_inline]] inline void store4(const GemvRows& a, int64_t r, __m128 v) {
  alignas(16) float t[kRows];
  _mm_store_ps(t, v);
  for (int i = 0; i < kRows && r + i < a.row_end; ++i) a.y[r + i] = t[i];
}

// [sum(a), sum(b), sum(c), sum(d)] of four vectors of 8 int32.
[[gnu::always_inline]] inline __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
  // Per 128-bit half: [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d.
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  // Per 128-bit half: [a, b, c, d] partial sums.
  const __m256i abcd =
      _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

[[gnu::always_inline]] inline __m128 fp16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
  return _mm_cvtph_ps(_mm_setr_epi16(static_cast<short>(a), static_cast<short>(b),
                                     static_cast<short>(c), static_cast<short>(d), 0, 0, 0, 0));
}

[[gnu::always_inline]] inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

}  // namespace
}  // namespace tandem::cpu
