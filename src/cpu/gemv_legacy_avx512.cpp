// AVX-512 VNNI GEMV kernels for the legacy 32-element block types: Q8_0, Q4_0, Q5_0
// (x Q8_0) and Q4_1, Q5_1 (x Q8_1). Built with the AVX-512 F/BW/VL/DQ/VNNI flags and
// -ffp-contract=off only; select_gemv() runs them only where the CPU has VNNI.
//
// vpdpbusd multiplies unsigned weight bytes by signed activation bytes and adds each
// group of 4 products to an int32 lane, exactly. The types' offsets are folded into
// the lane's starting value: Q4_0 (q - 8) starts at -8 * sum(x) (per 4-byte group),
// Q5_0 at -16 * sum(x), and Q8_0's signed weights run as w + 128 (w ^ 0x80) with a
// start of -128 * sum(x). The 5th bits of Q5 weights come from qh through a mask.
// Four weight rows per pass share each activation block; each row's lane of an f32
// vector adds the block's term with the reference's operations in block order, so
// the results are bit-identical to vec_dot_ref. One 32-element block fills a ymm.
//
// Everything here has internal linkage (see gemv_kernels.h).
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "cpu/gemv_kernels.h"
#include "cpu/gemv_rows_inl.h"

namespace tandem::cpu {
namespace {

// The same for two blocks at once: a..d hold block b in lanes 0..7 and block b+1 in
// lanes 8..15; the result is [sums of block b | sums of block b+1].
[[gnu::always_inline]] inline __m256i hsum4x2(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  // Per 128-bit quarter: [a, b, c, d] partial sums; quarters 0, 1: block b; 2, 3: b+1.
  const __m512i abcd =
      _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m512i pairs = _mm512_add_epi32(abcd, _mm512_shuffle_i32x4(abcd, abcd, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_castsi512_si256(_mm512_shuffle_i32x4(pairs, pairs, _MM_SHUFFLE(0, 0, 2, 0)));
}

// Field f (an f16) of block b and of block b + 1 of the four rows:
// [rows 0..3 of block b | rows 0..3 of block b+1] as f32.
template <typename B, typename F>
[[gnu::always_inline]] inline __m256 fp16x8(const Rows4<B>& w, int64_t b, F f) {
  const auto h = [&](int i, int64_t blk) { return static_cast<short>(f(w.p[i][blk])); };
  return _mm256_cvtph_ps(_mm_setr_epi16(h(0, b), h(1, b), h(2, b), h(3, b), h(0, b + 1),
                                        h(1, b + 1), h(2, b + 1), h(3, b + 1)));
}

[[gnu::always_inline]] inline __m128i load16(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
[[gnu::always_inline]] inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// -k * (sum of each 4-byte group of xq): the starting lanes for weights offset by k.
[[gnu::always_inline]] inline __m256i minus_k_sum(__m256i xq, uint8_t k) {
  const __m256i kk = _mm256_set1_epi8(static_cast<char>(k));
  return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), kk, xq));
}
[[gnu::always_inline]] inline __m512i minus_k_sum(__m512i xq, uint8_t k) {
  const __m512i kk = _mm512_set1_epi8(static_cast<char>(k));
  return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), kk, xq));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
[[gnu::always_inline]] inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i v = load16(qs);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

// The same for two blocks: [low, high nibbles of qs0 | low, high nibbles of qs1].
[[gnu::always_inline]] inline __m512i nibbles64(const uint8_t* qs0, const uint8_t* qs1) {
  const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load16(qs0)), load16(qs1), 1);
  const __m512i z = join(v, _mm256_srli_epi16(v, 4));  // [qs0, qs1, qs0 >> 4, qs1 >> 4]
  return _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(0x0f));
}

[[gnu::always_inline]] inline uint32_t load_qh(const uint8_t* qh) {
  uint32_t bits;
  __builtin_memcpy(&bits, qh, sizeof(bits));
  return bits;
}

// q + 16 where bit j of qh (element j) is set; for two blocks, qh1 covers bytes 32..63.
[[gnu::always_inline]] inline __m256i add_high_bits(__m256i q, const uint8_t* qh) {
  return _mm256_mask_add_epi8(q, load_qh(qh), q, _mm256_set1_epi8(16));
}
[[gnu::always_inline]] inline __m512i add_high_bits(__m512i q, const uint8_t* qh0, const uint8_t* qh1) {
  const __mmask64 m = load_qh(qh0) | (static_cast<uint64_t>(load_qh(qh1)) << 32);
  return _mm512_mask_add_epi8(q, m, q, _mm512_set1_epi8(16));
}

// ---- per-type weights as unsigned bytes (u = q + kOffset - offset of the type) -----
// isum = sum (q - offset) x = sum u x - kOffset * sum x, with u in 0..255.

struct Q8_0Kind {  // signed q: u = q ^ 0x80 = q + 128
  using W = BlockQ8_0;
  using X = BlockQ8_0;
  static constexpr uint8_t kOffset = 0x80;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static __m256i u32(const W& w) {
    return _mm256_xor_si256(load32(w.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  [[gnu::always_inline]] static __m512i u64(const W& w0, const W& w1) {
    return _mm512_xor_si512(join(load32(w0.qs), load32(w1.qs)), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
};

struct Q4_0Kind {  // x = d (q - 8)
  using W = BlockQ4_0;
  using X = BlockQ8_0;
  static constexpr uint8_t kOffset = 8;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static __m256i u32(const W& w) { return nibbles32(w.qs); }
  [[gnu::always_inline]] static __m512i u64(const W& w0, const W& w1) { return nibbles64(w0.qs, w1.qs); }
};

struct Q5_0Kind {  // x = d (q - 16)
  using W = BlockQ5_0;
  using X = BlockQ8_0;
  static constexpr uint8_t kOffset = 16;
  static constexpr bool kHasMin = false;
  [[gnu::always_inline]] static __m256i u32(const W& w) { return add_high_bits(nibbles32(w.qs), w.qh); }
  [[gnu::always_inline]] static __m512i u64(const W& w0, const W& w1) {
    return add_high_bits(nibbles64(w0.qs, w1.qs), w0.qh, w1.qh);
  }
};

struct Q4_1Kind {  // x = d q + m
  using W = BlockQ4_1;
  using X = BlockQ8_1;
  static constexpr uint8_t kOffset = 0;
  static constexpr bool kHasMin = true;
  [[gnu::always_inline]] static __m256i u32(const W& w) { return nibbles32(w.qs); }
  [[gnu::always_inline]] static __m512i u64(const W& w0, const W& w1) { return nibbles64(w0.qs, w1.qs); }
};

struct Q5_1Kind {  // x = d q + m
  using W = BlockQ5_1;
  using X = BlockQ8_1;
  static constexpr uint8_t kOffset = 0;
  static constexpr bool kHasMin = true;
  [[gnu::always_inline]] static __m256i u32(const W& w) { return add_high_bits(nibbles32(w.qs), w.qh); }
  [[gnu::always_inline]] static __m512i u64(const W& w0, const W& w1) {
    return add_high_bits(nibbles64(w0.qs, w1.qs), w0.qh, w1.qh);
  }
};

// Per block, as the reference: sum += (d_w * d_x) * isum for x = d q types
// (vec_dot_q{8,4,5}_0_q8_0_ref), sum += (d_w * d_x) * isum + m_w * s_x for x = d q + m
// (vec_dot_q{4,5}_1_q8_1_ref, s_x = d_x * sum(x_q) as stored in the Q8_1 block).
// Two blocks per step in zmm (one ymm step for an odd last block); each row's lane
// adds block b's term, then block b+1's.
template <typename K>
void gemv_legacy(const GemvRows& a) {
  using W = typename K::W;
  const auto* x = static_cast<const typename K::X*>(a.x);  // [cols / 32]
  const int64_t nb = a.cols / kQK;
  const auto d_of = [](const auto& blk) { return blk.d; };
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<W> w = rows4<W>(a, r);
    __m128 acc = _mm_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      w.prefetch_next(b);
      w.prefetch_next(b + 1);
      const __m512i xq = join(load32(x[b].qs), load32(x[b + 1].qs));
      const __m512i start = K::kOffset != 0 ? minus_k_sum(xq, K::kOffset) : _mm512_setzero_si512();
      __m512i dots[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i)
        dots[i] = _mm512_dpbusd_epi32(start, K::u64(w.p[i][b], w.p[i][b + 1]), xq);
      const __m256i isum = hsum4x2(dots[0], dots[1], dots[2], dots[3]);
      const __m256 dx = _mm256_set_m128(_mm_set1_ps(_cvtsh_ss(x[b + 1].d)), _mm_set1_ps(_cvtsh_ss(x[b].d)));
      __m256 t = _mm256_mul_ps(_mm256_mul_ps(fp16x8(w, b, d_of), dx), _mm256_cvtepi32_ps(isum));
      if constexpr (K::kHasMin) {
        const __m256 sx = _mm256_set_m128(_mm_set1_ps(_cvtsh_ss(x[b + 1].s)), _mm_set1_ps(_cvtsh_ss(x[b].s)));
        t = _mm256_add_ps(t, _mm256_mul_ps(fp16x8(w, b, [](const auto& blk) { return blk.m; }), sx));
      }
      acc = _mm_add_ps(acc, _mm256_castps256_ps128(t));
      acc = _mm_add_ps(acc, _mm256_extractf128_ps(t, 1));
    }
    if (b < nb) {
      w.prefetch_next(b);
      const __m256i xq = load32(x[b].qs);
      const __m256i start = K::kOffset != 0 ? minus_k_sum(xq, K::kOffset) : _mm256_setzero_si256();
      __m256i dots[kRows];
      #pragma GCC unroll 4
      for (int i = 0; i < kRows; ++i) dots[i] = _mm256_dpbusd_epi32(start, K::u32(w.p[i][b]), xq);
      const __m128i isum = hsum4(dots[0], dots[1], dots[2], dots[3]);
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(_cvtsh_ss(x[b].d)));
      __m128 t = _mm_mul_ps(d, _mm_cvtepi32_ps(isum));
      if constexpr (K::kHasMin) {
        const __m128 m = _mm_mul_ps(fp16x4(w.p[0][b].m, w.p[1][b].m, w.p[2][b].m, w.p[3][b].m),
                                    _mm_set1_ps(_cvtsh_ss(x[b].s)));
        t = _mm_add_ps(t, m);
      }
      acc = _mm_add_ps(acc, t);
    }
    store4(a, r, acc);
  }
}

}  // namespace

void gemv_q8_0_avx512vnni(const GemvRows& a) { gemv_legacy<Q8_0Kind>(a); }
void gemv_q4_0_avx512vnni(const GemvRows& a) { gemv_legacy<Q4_0Kind>(a); }
void gemv_q5_0_avx512vnni(const GemvRows& a) { gemv_legacy<Q5_0Kind>(a); }
void gemv_q4_1_avx512vnni(const GemvRows& a) { gemv_legacy<Q4_1Kind>(a); }
void gemv_q5_1_avx512vnni(const GemvRows& a) { gemv_legacy<Q5_1Kind>(a); }

}  // namespace tandem::cpu
