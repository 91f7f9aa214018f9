// AVX2 GEMV kernels for the legacy 32-element block types: Q8_0, Q4_0, Q5_0 (x Q8_0)
// and Q4_1, Q5_1 (x Q8_1). Built with -mavx2 -mfma -mf16c -ffp-contract=off only.
//
// Four weight rows per pass share each activation block. Per block and row the
// integer sum isum = sum_j q_j x_j (with the type's offset) is exact in int32:
// maddubs multiplies unsigned weight bytes by signed activation bytes into int16 pair
// sums that cannot saturate (|pair| <= 2 * 128 * 127 < 32767: activations from
// quantize_q8_0/q8_1_ref lie in [-127, 127]), madd widens them to int32. Offsets
// (q - 8, q - 16) are subtracted as 8 * sum(x), 16 * sum(x). Then each row's lane of
// an f32 vector adds the block term with the reference's own operations, in block
// order: the results are bit-identical to vec_dot_ref.
//
// This file shares only declarations with the other ISA files (see gemv_kernels.h):
// everything here has internal linkage.
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "cpu/gemv_kernels.h"
#include "cpu/gemv_rows_inl.h"

namespace tandem::cpu {
namespace {

// sum of u[k] * s[k] over each group of 4 bytes -> 8 int32 (u unsigned, s signed).
[[gnu::always_inline]] inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
[[gnu::always_inline]] inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

// The 32 bits of qh (bit j: element j) -> 32 bytes: 16 where the bit is set, else 0.
[[gnu::always_inline]] inline __m256i high_bits32(const uint8_t* qh) {
  uint32_t bits;
  __builtin_memcpy(&bits, qh, sizeof(bits));
  // Byte k takes qh byte k / 8 (set1_epi32 repeats the 4 bytes in both halves).
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), spread);
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);  // byte k: 1 << (k % 8)
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// ---- per-type block dots: Prep(xq) once per activation block, Dot per row --------

struct Q8_0Dot {
  using W = BlockQ8_0;
  [[gnu::always_inline]] static __m256i prep(__m256i) { return _mm256_setzero_si256(); }
  // |w| * (x with w's sign): the same products as w * x.
  [[gnu::always_inline]] static __m256i dot(const W& w, __m256i xq, __m256i) {
    const __m256i wq = load32(w.qs);
    return dot_u8s8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
  }
};

struct Q4_0Dot {
  using W = BlockQ4_0;
  static __m256i prep(__m256i xq) { return dot_u8s8(_mm256_set1_epi8(8), xq); }  // 8 sum(x)
  [[gnu::always_inline]] static __m256i dot(const W& w, __m256i xq, __m256i off) {
    return _mm256_sub_epi32(dot_u8s8(nibbles32(w.qs), xq), off);
  }
};

struct Q5_0Dot {
  using W = BlockQ5_0;
  static __m256i prep(__m256i xq) { return dot_u8s8(_mm256_set1_epi8(16), xq); }  // 16 sum(x)
  [[gnu::always_inline]] static __m256i dot(const W& w, __m256i xq, __m256i off) {
    const __m256i q = _mm256_or_si256(nibbles32(w.qs), high_bits32(w.qh));
    return _mm256_sub_epi32(dot_u8s8(q, xq), off);
  }
};

struct Q4_1Dot {
  using W = BlockQ4_1;
  [[gnu::always_inline]] static __m256i dot(const W& w, __m256i xq) { return dot_u8s8(nibbles32(w.qs), xq); }
};

struct Q5_1Dot {
  using W = BlockQ5_1;
  [[gnu::always_inline]] static __m256i dot(const W& w, __m256i xq) {
    return dot_u8s8(_mm256_or_si256(nibbles32(w.qs), high_bits32(w.qh)), xq);
  }
};

// x = d * q: sum += (d_w * d_x) * isum per block (vec_dot_q{8,4,5}_0_q8_0_ref).
template <typename K>
void gemv_scaled(const GemvRows& a) {
  using W = typename K::W;
  const auto* x = static_cast<const BlockQ8_0*>(a.x);  // [cols / 32]
  const int64_t nb = a.cols / kQK;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<W> w = rows4<W>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      const __m256i xq = load32(x[b].qs);
      const __m256i pre = K::prep(xq);
      const __m128i isum = hsum4(K::dot(w.p[0][b], xq, pre), K::dot(w.p[1][b], xq, pre),
                                 K::dot(w.p[2][b], xq, pre), K::dot(w.p[3][b], xq, pre));
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(_cvtsh_ss(x[b].d)));
      acc = _mm_add_ps(acc, _mm_mul_ps(d, _mm_cvtepi32_ps(isum)));
    }
    store4(a, r, acc);
  }
}

// x = d * q + m: sum += (d_w * d_x) * isum + m_w * s_x per block
// (vec_dot_q{4,5}_1_q8_1_ref; s_x = d_x * sum(x_q) as stored in the Q8_1 block).
template <typename K>
void gemv_with_min(const GemvRows& a) {
  using W = typename K::W;
  const auto* x = static_cast<const BlockQ8_1*>(a.x);  // [cols / 32]
  const int64_t nb = a.cols / kQK;
  for (int64_t r = a.row_begin; r < a.row_end; r += kRows) {
    const Rows4<W> w = rows4<W>(a, r);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      w.prefetch_next(b);
      const __m256i xq = load32(x[b].qs);
      const __m128i isum = hsum4(K::dot(w.p[0][b], xq), K::dot(w.p[1][b], xq),
                                 K::dot(w.p[2][b], xq), K::dot(w.p[3][b], xq));
      const __m128 d = _mm_mul_ps(fp16x4(w.p[0][b].d, w.p[1][b].d, w.p[2][b].d, w.p[3][b].d),
                                  _mm_set1_ps(_cvtsh_ss(x[b].d)));
      const __m128 m = _mm_mul_ps(fp16x4(w.p[0][b].m, w.p[1][b].m, w.p[2][b].m, w.p[3][b].m),
                                  _mm_set1_ps(_cvtsh_ss(x[b].s)));
      acc = _mm_add_ps(acc, _mm_add_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(isum)), m));
    }
    store4(a, r, acc);
  }
}

}  // namespace

void gemv_q8_0_avx2(const GemvRows& a) { gemv_scaled<Q8_0Dot>(a); }
void gemv_q4_0_avx2(const GemvRows& a) { gemv_scaled<Q4_0Dot>(a); }
void gemv_q5_0_avx2(const GemvRows& a) { gemv_scaled<Q5_0Dot>(a); }
void gemv_q4_1_avx2(const GemvRows& a) { gemv_with_min<Q4_1Dot>(a); }
void gemv_q5_1_avx2(const GemvRows& a) { gemv_with_min<Q5_1Dot>(a); }

}  // namespace tandem::cpu
