// AVX-512 VNNI GEMV kernels for the 2- and 3-bit K-quants (256 elements, 16 sub-blocks
// of 16) against Q8_K activations: Q2_K, Q3_K. Built with the AVX-512 F/BW/VL/DQ/VNNI
// flags and -ffp-contract=off only; select_gemv() runs them only where the CPU has VNNI.
//
// Per super-block and row the integer sums of the reference are computed exactly:
//   Q2_K: isum = sum_s scale_s * (sum over sub-block s of q x), q in 0..3,
//         summ = sum_s min_s * bsums[s];
//   Q3_K: isum = sum_s scale_s * (sum of (q + 4) x) - 4 * sum_s scale_s * bsums[s].
// vpmaddubsw multiplies the unsigned weights (at most 7) by the signed activations
// into int16 pair sums (no saturation); vpdpwssd multiplies those by the sub-block
// scales (int16) and accumulates in int32. One 64-byte load holds all of qs: bits 2k,
// 2k+1 of its bytes are elements 32k + 0..31 (bytes 0..31) and 128 + 32k + 0..31
// (bytes 32..63), i.e. sub-blocks 2k, 2k+1, 8+2k, 9+2k, 16 bytes each; the activations
// are arranged to match once per super-block. Four rows per pass share them; each
// row's lane of an f32 vector adds the block's term with the reference's operations in
// block order: bit-identical to vec_dot_ref.
//
// Element order of the blocks: see quant_k_ref.cpp. Everything here has internal
// linkage (see gemv_kernels.h).
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "cpu/gemv_kernels.h"
#include "cpu/gemv_rows_inl.h"

namespace tandem::cpu {
namespace {

[[gnu::always_inline]] inline __m256i fold(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// [sum(a), sum(b), sum(c), sum(d)] of four vectors of 16 int32.
[[gnu::always_inline]] inline __m128i hsum4(__m512i a, __m512i b, __m512i c, __m512i d) {
  return hsum4(fold(a), fold(b), fold(c), fold(d));  // the 8-lane one
}

// [a (32 bytes) | b (32 bytes)]
[[gnu::always_inline]] inline __m512i join(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// The int16 scale index of each int16 pair-sum lane for chunk k: lanes 0..7 = sub-block
// 2k, 8..15 = 2k + 1, 16..23 = 8 + 2k, 24..31 = 9 + 2k.
[[gnu::always_inline]] inline __m512i scale_index(int k) {
  const short s = static_cast<short>(2 * k), t = static_cast<short>(2 * k + 1);
  const __m256i lo = _mm256_setr_epi16(s, s, s, s, s, s, s, s, t, t, t, t, t, t, t, t);
  return join(lo, _mm256_add_epi16(lo, _mm256_set1_epi16(8)));
}

// The activations of one super-block arranged like the weights' 2-bit fields.
struct K23Acts {
  __m512i x[4];  // x[k] = [x of elements 32k + 0..31 | x of elements 128 + 32k + 0..31]
};

[[gnu::always_inline]] inline K23Acts k23_acts(const BlockQ8_K& x) {
  K23Acts r;
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) r.x[k] = join(load32(x.qs + 32 * k), load32(x.qs + 128 + 32 * k));
  return r;
}

// sum_s scale_s * (sum over sub-block s of u x) in 16 int32 lanes, added to `acc`; u
// (0..7) of chunk k comes from weights(k). scales: the 16 scales as int16 (low lanes).
template <typename Weights>
[[gnu::always_inline]] inline __m512i k23_scaled_dot(__m512i acc, __m512i scales, const K23Acts& x,
                                                    Weights weights) {
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(weights(k), x.x[k]),
                              _mm512_permutexvar_epi16(scale_index(k), scales));
  return acc;
}

// Bits 2k, 2k+1 of every byte of v, as bytes 0..3.
[[gnu::always_inline]] inline __m512i two_bits(__m512i v, int k) {
  return _mm512_and_si512(_mm512_srli_epi16(v, 2 * k), _mm512_set1_epi8(3));
}

// ---- Q2_K ---------------------------------------------------------------------------

struct Q2Parts {
  __m512i dot;   // [16] int32 summing to isum
  __m256i mins;  // [8] int32 summing to summ
};

[[gnu::always_inline]] inline Q2Parts q2k_parts(const BlockQ2_K& w, const K23Acts& xa, const BlockQ8_K& x) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, low4));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), low4));
  const __m512i q = _mm512_loadu_si512(w.qs);
  Q2Parts r;
  r.mins = _mm256_madd_epi16(m16, load32(x.bsums));
  r.dot = k23_scaled_dot(_mm512_setzero_si512(), _mm512_castsi256_si512(sc16), xa,
                         [&](int k) { return two_bits(q, k); });
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
      const K23Acts xa = k23_acts(x[b]);
      Q2Parts parts[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) parts[i] = q2k_parts(w.p[i][b], xa, x[b]);
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

// The block's isum in 16 int32 lanes.
[[gnu::always_inline]] inline __m512i q3k_dot(const BlockQ3_K& w, const K23Acts& xa, const BlockQ8_K& x) {
  const __m256i sc16 = _mm256_cvtepi8_epi16(q3k_scales(w.scales));
  // -4 * sum_s scale_s * bsums[s] starts the sum (the -4 offset of every q + 4).
  const __m256i off = _mm256_madd_epi16(sc16, load32(x.bsums));
  const __m512i start =
      _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2)));
  const __m512i q = _mm512_loadu_si512(w.qs);
  const __m512i hm = _mm512_broadcast_i64x4(load32(w.hmask));  // [hmask | hmask]
  const __m512i four = _mm512_set1_epi8(4);
  // q + 4 of chunk k: the 2 low bits, plus 4 where the third bit is set: bit k of
  // hmask[l] for elements 32k + l (bytes 0..31), bit 4 + k for 128 + 32k + l.
  return k23_scaled_dot(start, _mm512_castsi256_si512(sc16), xa, [&](int k) {
    const __m512i bits = join(_mm256_set1_epi8(static_cast<char>(1 << k)),
                              _mm256_set1_epi8(static_cast<char>(1 << (4 + k))));
    const __m512i low = two_bits(q, k);
    return _mm512_mask_add_epi8(low, _mm512_test_epi8_mask(hm, bits), low, four);
  });
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
      const K23Acts xa = k23_acts(x[b]);
      const __m128i isum = hsum4(q3k_dot(w.p[0][b], xa, x[b]), q3k_dot(w.p[1][b], xa, x[b]),
                                 q3k_dot(w.p[2][b], xa, x[b]), q3k_dot(w.p[3][b], xa, x[b]));
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(x[b].d));
      acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(isum)));
    }
    store4(a, r, acc);
  }
}

}  // namespace

void gemv_q2_k_avx512vnni(const GemvRows& a) { gemv_q2k(a); }
void gemv_q3_k_avx512vnni(const GemvRows& a) { gemv_q3k(a); }

}  // namespace tandem::cpu
