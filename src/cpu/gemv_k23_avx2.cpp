// AVX2 GEMV kernels for the 2- and 3-bit K-quants (256 elements, 16 sub-blocks of 16)
// against Q8_K activations: Q2_K, Q3_K. Built with -mavx2 -mfma -mf16c -ffp-contract=off
// only (no AVX-512, no VNNI: CI runs these under qemu -cpu Haswell).
//
// Per super-block and row the integer sums of the reference are computed exactly:
//   Q2_K: isum = sum_s scale_s * (sum over sub-block s of q x), q in 0..3,
//         summ = sum_s min_s * bsums[s];
//   Q3_K: isum = sum_s scale_s * (sum over sub-block s of q x), q in -4..3
//              = sum_s scale_s * (sum of (q + 4) x) - 4 * sum_s scale_s * bsums[s].
// maddubs multiplies the unsigned weights (Q2_K: q, Q3_K: q + 4, at most 7) by the
// signed activations into int16 pair sums (at most 2 * 7 * 127: no saturation); madd
// applies the sub-block scales as int16 and widens to int32. Four rows per pass share
// the activation block; each row's lane of an f32 vector adds the block's term with
// the reference's operations in block order, so the results are bit-identical to
// vec_dot_ref.
//
// Element order (quant_k_ref.cpp): each half h of a block is one 32-byte load of
// qs[32h ..]; bits 2k, 2k+1 of its bytes are elements 128h + 32k + 0..31, i.e. sub-blocks
// 8h + 2k (bytes 0..15) and 8h + 2k + 1 (bytes 16..31): one 128-bit half of the ymm
// each. Everything here has internal linkage (see gemv_kernels.h).
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "cpu/gemv_kernels.h"
#include "cpu/gemv_rows_inl.h"

namespace tandem::cpu {
namespace {

// shuffle_epi8 control that spreads int16 lane 2k over the low 128-bit half and lane
// 2k + 1 over the high half (each half of the scales vector holds 8 int16 scales).
[[gnu::always_inline]] inline __m256i pick_pair(int k) {
  const short lo = static_cast<short>(((4 * k + 1) << 8) | (4 * k));
  const short hi = static_cast<short>(((4 * k + 3) << 8) | (4 * k + 2));
  return _mm256_setr_epi16(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi);
}

// sum_s scale_s * (sum over sub-block s of u x) in 8 int32 lanes, where u (0..7) of the
// 32 elements 128h + 32k + 0..31 comes from weights(h, k). sc8: the 16 scales as int8.
template <typename Weights>
[[gnu::always_inline]] inline __m256i k23_scaled_dot(__m128i sc8, const BlockQ8_K& x, Weights weights) {
  // Scales 0..7 and 8..15 as int16, each repeated in both 128-bit halves.
  const __m256i s_half[2] = {_mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8)),
                             _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)))};
  __m256i acc = _mm256_setzero_si256();
  #pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256i p = _mm256_maddubs_epi16(weights(h, k), load32(x.qs + 128 * h + 32 * k));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(s_half[h], pick_pair(k))));
    }
  }
  return acc;
}

// Bits 2k, 2k+1 of every byte of v, as bytes 0..3 (16-bit shift; the mask drops what
// crosses between bytes).
[[gnu::always_inline]] inline __m256i two_bits(__m256i v, int k) {
  return _mm256_and_si256(_mm256_srli_epi16(v, 2 * k), _mm256_set1_epi8(3));
}

// ---- Q2_K ---------------------------------------------------------------------------

struct Q2Parts {
  __m256i dot;   // [8] int32 summing to isum
  __m256i mins;  // [8] int32 summing to summ
};

[[gnu::always_inline]] inline Q2Parts q2k_parts(const BlockQ2_K& w, const BlockQ8_K& x) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i sc8 = _mm_and_si128(raw, low4);                     // 0..15
  const __m128i m8 = _mm_and_si128(_mm_srli_epi16(raw, 4), low4);  // 0..15
  const __m256i q_half[2] = {load32(w.qs), load32(w.qs + 32)};
  Q2Parts r;
  r.mins = _mm256_madd_epi16(_mm256_cvtepu8_epi16(m8), load32(x.bsums));
  r.dot = k23_scaled_dot(sc8, x, [&](int h, int k) { return two_bits(q_half[h], k); });
  return r;
}

// sum += d * isum - dmin * summ per block, d = d_w * d_x and dmin = dmin_w * d_x
// (vec_dot_q2_k_q8_k_ref).
void gemv_q2k(const GemvRows& a) {
  const auto* x = static_cast<const BlockQ8_K*>(a.x);  // [cols / 256]
  const int64_t nb = a.cols / kQK_K;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<BlockQ2_K> w = rows4<BlockQ2_K>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      Q2Parts parts[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) parts[i] = q2k_parts(w.p[i][b], x[b]);
      const __m128i isum = hsum4(parts[0].dot, parts[1].dot, parts[2].dot, parts[3].dot);
      const __m128i summ = hsum4(parts[0].mins, parts[1].mins, parts[2].mins, parts[3].mins);
      const __m128 dx = _mm_set1_ps(x[b].d);
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d), dx);
      const __m128 dmin = _mm_mul_ps(
          fp16x4(w.p[0][b].dmin, w.p[1][b].dmin, w.p[2][b].dmin, w.p[3][b].dmin), dx);
      acc = _mm_add_ps(acc, _mm_sub_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(isum)),
                                       _mm_mul_ps(dmin, _mm_cvtepi32_ps(summ))));
    }
    store4(a, r, acc);
  }
}

// ---- Q3_K ---------------------------------------------------------------------------

// The 16 scales of a Q3_K block as int8 -32..31 (q3k_scale, four at a time): sub-blocks
// 0..3 / 4..7 take their low 4 bits from the low nibbles of bytes 0..3 / 4..7, 8..11 /
// 12..15 from the high nibbles; the top 2 bits of sub-block 4j + i are bits 2j, 2j+1
// of byte 8 + i.
[[gnu::always_inline]] inline __m128i q3k_scales(const uint8_t* s) {
  uint32_t w0, w1, w2;
  __builtin_memcpy(&w0, s, 4);
  __builtin_memcpy(&w1, s + 4, 4);
  __builtin_memcpy(&w2, s + 8, 4);
  const uint32_t lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
  const uint32_t s0 = (w0 & lo4) | ((w2 & lo2) << 4);
  const uint32_t s1 = (w1 & lo4) | (((w2 >> 2) & lo2) << 4);
  const uint32_t s2 = ((w0 >> 4) & lo4) | (((w2 >> 4) & lo2) << 4);
  const uint32_t s3 = ((w1 >> 4) & lo4) | (((w2 >> 6) & lo2) << 4);
  const __m128i stored = _mm_setr_epi32(static_cast<int>(s0), static_cast<int>(s1),
                                        static_cast<int>(s2), static_cast<int>(s3));
  return _mm_sub_epi8(stored, _mm_set1_epi8(32));
}

// Bit b (0..7) of every byte of v moved to bit 2 (the value 4), other bits cleared.
[[gnu::always_inline]] inline __m256i bit_as_4(__m256i v, int b) {
  const __m256i moved = b >= 2 ? _mm256_srli_epi16(v, b - 2) : _mm256_slli_epi16(v, 2 - b);
  return _mm256_and_si256(moved, _mm256_set1_epi8(4));
}

// The block's isum in 8 int32 lanes.
[[gnu::always_inline]] inline __m256i q3k_dot(const BlockQ3_K& w, const BlockQ8_K& x) {
  const __m128i sc8 = q3k_scales(w.scales);
  // -4 * sum_s scale_s * bsums[s] starts the sum (the -4 offset of every q + 4).
  const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load32(x.bsums));
  const __m256i start = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2));
  const __m256i q_half[2] = {load32(w.qs), load32(w.qs + 32)};
  const __m256i hb = load32(w.hmask);
  // q + 4 of elements 128h + 32k + l: the 2 low bits, plus 4 where bit 4h + k of
  // hmask[l] is set.
  const __m256i dot = k23_scaled_dot(sc8, x, [&](int h, int k) {
    return _mm256_or_si256(two_bits(q_half[h], k), bit_as_4(hb, 4 * h + k));
  });
  return _mm256_add_epi32(start, dot);
}

// sum += (d_w * d_x) * isum per block (vec_dot_q3_k_q8_k_ref).
void gemv_q3k(const GemvRows& a) {
  const auto* x = static_cast<const BlockQ8_K*>(a.x);  // [cols / 256]
  const int64_t nb = a.cols / kQK_K;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<BlockQ3_K> w = rows4<BlockQ3_K>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      const __m128i isum = hsum4(q3k_dot(w.p[0][b], x[b]), q3k_dot(w.p[1][b], x[b]),
                                 q3k_dot(w.p[2][b], x[b]), q3k_dot(w.p[3][b], x[b]));
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(x[b].d));
      acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(isum)));
    }
    store4(a, r, acc);
  }
}

}  // namespace

void gemv_q2_k_avx2(const GemvRows& a) { gemv_q2k(a); }
void gemv_q3_k_avx2(const GemvRows& a) { gemv_q3k(a); }

}  // namespace tandem::cpu
