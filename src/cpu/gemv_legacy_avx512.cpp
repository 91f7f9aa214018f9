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
#include <immintrin.h>

#include "core/quant_blocks.h"
#include "cpu/gemv_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kRows = 4;  // weight rows per pass

template <typename B>
struct Rows4 {
  const B* p[kRows];
};

// Rows r .. r+3 of W, clamped to the last row (surplus lanes are not stored).
template <typename B>
Rows4<B> rows4(const GemvRows& a, int64_t r) {
  Rows4<B> rw;
  const auto* base = static_cast<const uint8_t*>(a.w);
  for (int i = 0; i < kRows; ++i) {
    const int64_t row = r + i < a.row_end ? r + i : a.row_end - 1;
    rw.p[i] = reinterpret_cast<const B*>(base + static_cast<size_t>(row) * a.w_stride);
  }
  return rw;
}

void store4(const GemvRows& a, int64_t r, __m128 v) {
  alignas(16) float t[kRows];
  _mm_store_ps(t, v);
  for (int i = 0; i < kRows && r + i < a.row_end; ++i) a.y[r + i] = t[i];
}

// [sum(a), sum(b), sum(c), sum(d)] of four vectors of 8 int32.
__m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  const __m256i abcd =
      _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

__m128 fp16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
  return _mm_cvtph_ps(_mm_setr_epi16(static_cast<short>(a), static_cast<short>(b),
                                     static_cast<short>(c), static_cast<short>(d), 0, 0, 0, 0));
}

__m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// -k * (sum of each 4-byte group of xq), the starting lanes for weights offset by k.
__m256i minus_k_sum(__m256i xq, char k) {
  return _mm256_sub_epi32(_mm256_setzero_si256(),
                          _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(k), xq));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31).
__m256i nibbles32(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

// q + 16 where bit j of qh (element j) is set.
__m256i add_high_bits(__m256i q, const uint8_t* qh) {
  uint32_t bits;
  __builtin_memcpy(&bits, qh, sizeof(bits));
  return _mm256_mask_add_epi8(q, static_cast<__mmask32>(bits), q, _mm256_set1_epi8(16));
}

// ---- per-type block dots: prep(xq) once per activation block, dot per row --------

struct Q8_0Dot {
  using W = BlockQ8_0;
  static __m256i prep(__m256i xq) { return minus_k_sum(xq, static_cast<char>(0x80)); }
  static __m256i dot(const W& w, __m256i xq, __m256i start) {
    const __m256i u = _mm256_xor_si256(load32(w.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
    return _mm256_dpbusd_epi32(start, u, xq);
  }
};

struct Q4_0Dot {
  using W = BlockQ4_0;
  static __m256i prep(__m256i xq) { return minus_k_sum(xq, 8); }
  static __m256i dot(const W& w, __m256i xq, __m256i start) {
    return _mm256_dpbusd_epi32(start, nibbles32(w.qs), xq);
  }
};

struct Q5_0Dot {
  using W = BlockQ5_0;
  static __m256i prep(__m256i xq) { return minus_k_sum(xq, 16); }
  static __m256i dot(const W& w, __m256i xq, __m256i start) {
    return _mm256_dpbusd_epi32(start, add_high_bits(nibbles32(w.qs), w.qh), xq);
  }
};

struct Q4_1Dot {
  using W = BlockQ4_1;
  static __m256i dot(const W& w, __m256i xq) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles32(w.qs), xq);
  }
};

struct Q5_1Dot {
  using W = BlockQ5_1;
  static __m256i dot(const W& w, __m256i xq) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), add_high_bits(nibbles32(w.qs), w.qh), xq);
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
      const __m256i xq = load32(x[b].qs);
      const __m256i start = K::prep(xq);
      const __m128i isum = hsum4(K::dot(w.p[0][b], xq, start), K::dot(w.p[1][b], xq, start),
                                 K::dot(w.p[2][b], xq, start), K::dot(w.p[3][b], xq, start));
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

void gemv_q8_0_avx512vnni(const GemvRows& a) { gemv_scaled<Q8_0Dot>(a); }
void gemv_q4_0_avx512vnni(const GemvRows& a) { gemv_scaled<Q4_0Dot>(a); }
void gemv_q5_0_avx512vnni(const GemvRows& a) { gemv_scaled<Q5_0Dot>(a); }
void gemv_q4_1_avx512vnni(const GemvRows& a) { gemv_with_min<Q4_1Dot>(a); }
void gemv_q5_1_avx512vnni(const GemvRows& a) { gemv_with_min<Q5_1Dot>(a); }

}  // namespace tandem::cpu
