// AVX2 GEMV kernels for the K-quant super-blocks (256 elements) against Q8_K
// activations: Q4_K, Q5_K, Q6_K. Built with -mavx2 -mfma -mf16c -ffp-contract=off only.
//
// Per super-block and row the integer sums of the reference are computed exactly:
//   Q4_K/Q5_K: isum = sum_j scale_j * (sum over sub-block j of q x), summ = sum_j
//              min_j * (bsums[2j] + bsums[2j+1]);
//   Q6_K:      isum = sum_s scale_s * sum over sub-block s of (q - 32) x
//              = sum_s scale_s * (sum q x) - 32 * sum_s scale_s * bsums[s].
// maddubs multiplies the unsigned weights (0..63) by the signed activations into
// int16 pair sums (at most 2 * 63 * 127, no saturation), madd applies the scales as
// int16 and widens to int32. Four rows per pass share the activation block; each
// row's lane of an f32 vector adds the block's term with the reference's operations
// in block order, so the results are bit-identical to vec_dot_ref.
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

// The same for four vectors of 4 int32.
[[gnu::always_inline]] inline __m128i hsum4(__m128i a, __m128i b, __m128i c, __m128i d) {
  const __m128i ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
  const __m128i cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
  return _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd));
}

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

// bsums[2j] + bsums[2j+1] for j = 0..7, as 8 int16 (each at most 32 * 127).
[[gnu::always_inline]] inline __m128i bsum_pairs(const BlockQ8_K& x) {
  const __m256i pairs = _mm256_madd_epi16(load32(x.bsums), _mm256_set1_epi16(1));
  return _mm_packs_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
}

// Q4_K/Q5_K: sum_j scale_j * dot(sub-block j) as 8 int32 lanes. The high bits of Q5_K
// (bit 2c of qh[l] for element 64c + l, bit 2c + 1 for 64c + 32 + l) come in `qh`,
// null for Q4_K.
[[gnu::always_inline]] inline __m256i k4_scaled_dot(const uint8_t* qs, const uint8_t* qh, __m128i sc,
                                                   const BlockQ8_K& x) {
  const __m256i scales = _mm256_broadcastsi128_si256(sc);  // sc0..sc7 in both halves
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  const __m256i h = qh != nullptr ? load32(qh) : _mm256_setzero_si256();
  __m256i acc = _mm256_setzero_si256();
  #pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m256i v = load32(qs + 32 * c);
    __m256i lo = _mm256_and_si256(v, low4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    if (qh != nullptr) {
      // Bits 2c and 2c+1 of each qh byte moved to bit 4 (16-bit shifts: the 0x10 mask
      // drops what crosses between bytes).
      const __m256i hc = _mm256_srli_epi16(h, 2 * c);
      lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hc, 4), bit4));
      hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hc, 3), bit4));
    }
    const __m256i p_lo = _mm256_maddubs_epi16(lo, load32(x.qs + 64 * c));
    const __m256i p_hi = _mm256_maddubs_epi16(hi, load32(x.qs + 64 * c + 32));
    // Broadcast int16 scale 2c (bytes 4c, 4c+1) and 2c + 1 (4c+2, 4c+3) to every lane.
    const auto pick = [](int byte) {
      return _mm256_set1_epi16(static_cast<short>(((byte + 1) << 8) | byte));
    };
    const __m256i s_lo = _mm256_shuffle_epi8(scales, pick(4 * c));
    const __m256i s_hi = _mm256_shuffle_epi8(scales, pick(4 * c + 2));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p_lo, s_lo));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p_hi, s_hi));
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
      const __m128i bp = bsum_pairs(x[b]);
      __m256i dots[kRows];
      __m128i mins[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) {
        const B& wb = w.p[i][b];
        const ScalesMins sm = k4_scales_mins(wb.scales);
        const uint8_t* qh = nullptr;
        if constexpr (kHasHigh) qh = wb.qh;
        dots[i] = k4_scaled_dot(wb.qs, qh, sm.sc, x[b]);
        mins[i] = _mm_madd_epi16(sm.m, bp);
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

// Q6_K: the block's isum as 8 int32 lanes.
[[gnu::always_inline]] inline __m256i q6k_dot(const BlockQ6_K& w, const BlockQ8_K& x) {
  const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
  // -32 * sum_s scale_s * bsums[s] starts the sum (the -32 offset of every q).
  const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), load32(x.bsums));
  __m256i acc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
  // Scales 0..7 and 8..15 as int16, each repeated in both 128-bit halves.
  const __m256i s_first = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8));
  const __m256i s_second = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i top2 = _mm256_set1_epi8(0x30);
  #pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m256i l0 = load32(w.ql + 64 * h);
    const __m256i l1 = load32(w.ql + 64 * h + 32);
    const __m256i hb = load32(w.qh + 32 * h);
    // Elements 128h + 32k + l for k = 0..3 (bits 2k, 2k+1 of qh[l] moved to bits 4, 5).
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), top2)),
        _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), top2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(hb, top2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                        _mm256_and_si256(_mm256_srli_epi16(hb, 2), top2)),
    };
    const __m256i& s = h == 0 ? s_first : s_second;
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      // 32 elements = sub-blocks 8h + 2k (low half) and 8h + 2k + 1 (high half).
      const short lo = static_cast<short>(((4 * k + 1) << 8) | (4 * k));
      const short hi = static_cast<short>(((4 * k + 3) << 8) | (4 * k + 2));
      const __m256i pick = _mm256_setr_epi16(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi);
      const __m256i p = _mm256_maddubs_epi16(q[k], load32(x.qs + 128 * h + 32 * k));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(s, pick)));
    }
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

void gemv_q4_k_avx2(const GemvRows& a) { gemv_k4<BlockQ4_K>(a); }
void gemv_q5_k_avx2(const GemvRows& a) { gemv_k4<BlockQ5_K>(a); }
void gemv_q6_k_avx2(const GemvRows& a) { gemv_q6k(a); }

}  // namespace tandem::cpu
