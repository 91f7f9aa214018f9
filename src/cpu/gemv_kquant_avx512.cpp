// AVX-512 VNNI GEMV kernels for the K-quant super-blocks (256 elements) against Q8_K
// activations: Q4_K, Q5_K, Q6_K. Built with the AVX-512 F/BW/VL/DQ/VNNI flags and
// -ffp-contract=off only; select_gemv() runs them only where the CPU has VNNI.
//
// Per super-block and row the integer sums of the reference are computed exactly:
//   Q4_K/Q5_K: isum = sum_j scale_j * (sum over sub-block j of q x), summ = sum_j
//              min_j * (bsums[2j] + bsums[2j+1]);
//   Q6_K:      isum = sum_s scale_s * (sum over sub-block s of q x)
//                     - 32 * sum_s scale_s * bsums[s]  (the -32 offset via bsums).
// vpmaddubsw multiplies the unsigned weights (0..63) by the signed activations into
// int16 pair sums (at most 2 * 63 * 127: no saturation); vpdpwssd multiplies those by
// the sub-block scales (int16) and accumulates in int32. Each zmm covers 64 elements:
// two 32-element sub-blocks for Q4_K/Q5_K (with the activations rearranged to match
// the nibble order once per super-block), four 16-element ones for Q6_K. Four rows
// per pass share the activations; each row's lane of an f32 vector adds the block's
// term with the reference's operations in block order: bit-identical to vec_dot_ref.
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
[[gnu::always_inline]] inline __m128i hsum4(__m512i a512, __m512i b512, __m512i c512, __m512i d512) {
  return hsum4(fold(a512), fold(b512), fold(c512), fold(d512));  // the 8-lane one
}

// The same for four vectors of 4 int32.
[[gnu::always_inline]] inline __m128i hsum4(__m128i a, __m128i b, __m128i c, __m128i d) {
  const __m128i ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
  const __m128i cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
  return _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
}

[[gnu::always_inline]] inline __m512i load64(const void* p) { return _mm512_loadu_si512(p); }

// [a (32 bytes) | b (32 bytes)]
[[gnu::always_inline]] inline __m512i join(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// int16 lane i of the result = lane idx[i] of v (v: 8 or 16 int16 in its low lanes).
[[gnu::always_inline]] inline __m512i spread(__m512i v, __m512i idx) {
  return _mm512_permutexvar_epi16(idx, v);
}

// Lanes 0..15 = s, 16..31 = t.
[[gnu::always_inline]] inline __m512i idx_2x16(short s, short t) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(s)), _mm256_set1_epi16(t), 1);
}

// Lanes 8k .. 8k+7 = s + k for k = 0..3.
[[gnu::always_inline]] inline __m512i idx_4x8(short s) {
  const __m256i lo = _mm256_setr_epi16(s, s, s, s, s, s, s, s, s + 1, s + 1, s + 1, s + 1, s + 1,
                                       s + 1, s + 1, s + 1);
  const __m256i hi = _mm256_add_epi16(lo, _mm256_set1_epi16(2));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// ---- Q4_K / Q5_K --------------------------------------------------------------------

// The 6-bit scales and mins of a Q4_K/Q5_K block as 8 int16 each (k4_scale_min's
// unpacking, four bytes at a time): bytes 0..3 of sc/m sit in the low 6 bits of
// s[0..3] / s[4..7]; bytes 4..7 take their low 4 bits from s[8..11] (sc: low nibble,
// m: high nibble) and their top 2 bits from the top bits of s[0..3] (sc) / s[4..7] (m).
struct ScalesMins {
  __m128i sc;  // [8] int16
  __m128i m;   // [8] int16
};

[[gnu::always_inline]] inline ScalesMins k4_scales_mins(const uint8_t* s) {
  uint32_t w0, w1, w2;
  __builtin_memcpy(&w0, s, 4);
  __builtin_memcpy(&w1, s + 4, 4);
  __builtin_memcpy(&w2, s + 8, 4);
  const uint32_t sc_lo = w0 & 0x3f3f3f3fu;
  const uint32_t m_lo = w1 & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
  return {_mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0)),
          _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(m_lo), static_cast<int>(m_hi), 0, 0))};
}

// The activations of one super-block arranged like the weights' nibbles: 64 qs bytes
// (chunks 2k, 2k+1) hold sub-blocks 4k, 4k+2 in their low nibbles and 4k+1, 4k+3 in
// their high nibbles.
struct K4Acts {
  __m512i lo[2];  // [x of sub-block 4k | x of sub-block 4k + 2]
  __m512i hi[2];  // [x of sub-block 4k + 1 | x of sub-block 4k + 3]
  __m128i bsum_pairs;  // [8] int16: bsums[2j] + bsums[2j+1] (each at most 32 * 127)
};

[[gnu::always_inline]] inline K4Acts k4_acts(const BlockQ8_K& x) {
  K4Acts r;
  #pragma GCC unroll 2
  for (int k = 0; k < 2; ++k) {
    r.lo[k] = join(load32(x.qs + 128 * k), load32(x.qs + 128 * k + 64));
    r.hi[k] = join(load32(x.qs + 128 * k + 32), load32(x.qs + 128 * k + 96));
  }
  const __m256i pairs = _mm256_madd_epi16(load32(x.bsums), _mm256_set1_epi16(1));
  r.bsum_pairs = _mm_packs_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
  return r;
}

// sum_j scale_j * dot(sub-block j) in 16 int32 lanes. Q5_K's high bits (bit j of
// qh[l] for element 32j + l) come in `qh`, null for Q4_K.
[[gnu::always_inline]] inline __m512i k4_scaled_dot(const uint8_t* qs, const uint8_t* qh, __m128i sc,
                                                   const K4Acts& x) {
  const __m512i scales = _mm512_castsi128_si512(sc);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i h = qh != nullptr ? _mm512_broadcast_i64x4(load32(qh)) : _mm512_setzero_si512();
  __m512i acc = _mm512_setzero_si512();
  #pragma GCC unroll 2
  for (int k = 0; k < 2; ++k) {
    const __m512i v = load64(qs + 64 * k);
    __m512i lo = _mm512_and_si512(v, low4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    if (qh != nullptr) {
      // Sub-blocks 4k, 4k+2 (lo) and 4k+1, 4k+3 (hi): +16 where their qh bit is set.
      const __m512i sixteen = _mm512_set1_epi8(16);
      const auto bits = [](int first, int second) {  // bit `first` in bytes 0..31, `second` in 32..63
        return join(_mm256_set1_epi8(static_cast<char>(1 << first)),
                    _mm256_set1_epi8(static_cast<char>(1 << second)));
      };
      const __mmask64 m_lo = _mm512_test_epi8_mask(h, bits(4 * k, 4 * k + 2));
      const __mmask64 m_hi = _mm512_test_epi8_mask(h, bits(4 * k + 1, 4 * k + 3));
      lo = _mm512_mask_add_epi8(lo, m_lo, lo, sixteen);
      hi = _mm512_mask_add_epi8(hi, m_hi, hi, sixteen);
    }
    const short j = static_cast<short>(4 * k);
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(lo, x.lo[k]),
                              spread(scales, idx_2x16(j, static_cast<short>(j + 2))));
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(hi, x.hi[k]),
                              spread(scales, idx_2x16(static_cast<short>(j + 1), static_cast<short>(j + 3))));
  }
  return acc;
}

// Q4_K and Q5_K: sum += d * isum - dmin * summ per block, d = d_w * d_x and
// dmin = dmin_w * d_x (vec_dot_q{4,5}_k_q8_k_ref).
template <typename B>
void gemv_k4(const GemvRows& a) {
  constexpr bool kHasHigh = sizeof(B) == sizeof(BlockQ5_K);
  const auto* x = static_cast<const BlockQ8_K*>(a.x);  // [cols / 256]
  const int64_t nb = a.cols / kQK_K;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<B> w = rows4<B>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      const K4Acts xa = k4_acts(x[b]);
      __m512i dots[kRows];
      __m128i mins[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) {
        const B& wb = w.p[i][b];
        const ScalesMins sm = k4_scales_mins(wb.scales);
        const uint8_t* qh = nullptr;
        if constexpr (kHasHigh) qh = wb.qh;
        dots[i] = k4_scaled_dot(wb.qs, qh, sm.sc, xa);
        mins[i] = _mm_madd_epi16(sm.m, xa.bsum_pairs);
      }
      const __m128i isum = hsum4(dots[0], dots[1], dots[2], dots[3]);
      const __m128i summ = hsum4(mins[0], mins[1], mins[2], mins[3]);
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

// ---- Q6_K ---------------------------------------------------------------------------

// The block's isum in 16 int32 lanes.
[[gnu::always_inline]] inline __m512i q6k_dot(const BlockQ6_K& w, const BlockQ8_K& x) {
  const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
  // -32 * sum_s scale_s * bsums[s] starts the sum.
  const __m256i off = _mm256_madd_epi16(s16, load32(x.bsums));
  __m512i acc = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5)));
  const __m512i scales = _mm512_castsi256_si512(s16);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  // 16-bit shift counts: bits (0,1 | 2,3) of qh to bits 4,5 for the low nibbles, bits
  // (4,5 | 6,7) for the high ones; the 0x30 mask drops what crosses between bytes.
  const __m512i shl_lo = join(_mm256_set1_epi16(4), _mm256_set1_epi16(2));
  const __m512i shr_hi = join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
  #pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m512i l = load64(w.ql + 64 * h);                       // ql[64h .. 64h+63]
    const __m512i qh = _mm512_broadcast_i64x4(load32(w.qh + 32 * h));  // [qh | qh]
    // Elements 128h + 0..63 (low nibbles) and 128h + 64..127 (high nibbles), in order.
    const __m512i q_lo = _mm512_or_si512(_mm512_and_si512(l, low4),
                                         _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), top2));
    const __m512i q_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                         _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), top2));
    const short s = static_cast<short>(8 * h);  // first sub-block of this half
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q_lo, load64(x.qs + 128 * h)),
                              spread(scales, idx_4x8(s)));
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q_hi, load64(x.qs + 128 * h + 64)),
                              spread(scales, idx_4x8(static_cast<short>(s + 4))));
  }
  return acc;
}

// sum += (d_w * d_x) * isum per block (vec_dot_q6_k_q8_k_ref).
void gemv_q6k(const GemvRows& a) {
  const auto* x = static_cast<const BlockQ8_K*>(a.x);  // [cols / 256]
  const int64_t nb = a.cols / kQK_K;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<BlockQ6_K> w = rows4<BlockQ6_K>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      const __m128i isum = hsum4(q6k_dot(w.p[0][b], x[b]), q6k_dot(w.p[1][b], x[b]),
                                 q6k_dot(w.p[2][b], x[b]), q6k_dot(w.p[3][b], x[b]));
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(x[b].d));
      acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(isum)));
    }
    store4(a, r, acc);
  }
}

}  // namespace

void gemv_q4_k_avx512vnni(const GemvRows& a) { gemv_k4<BlockQ4_K>(a); }
void gemv_q5_k_avx512vnni(const GemvRows& a) { gemv_k4<BlockQ5_K>(a); }
void gemv_q6_k_avx512vnni(const GemvRows& a) { gemv_q6k(a); }

}  // namespace tandem::cpu
