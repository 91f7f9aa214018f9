// The AVX2 packed-weight kernels for Q2_K and Q3_K (layouts: packed_kernels.h), plain
// AVX2 (kVnni = false: vpmaddubsw + vpmaddwd) and AVX-VNNI (kVnni = true: VEX
// vpdpbusd). The helpers, the halves of a block column and the include discipline are
// packed_avx2_inl.h's, which this includes: included ONLY by packed_avx2.cpp and
// packed_avxvnni.cpp, everything in an unnamed namespace.
//
// Sub-block S = 8h + 2k + u (elements 16S .. 16S+15) holds its 2-bit fields in bits 2k,
// 2k+1 of qs chunks 8h + 4u + m (m = 0..3); Q3_K's third bit is bit 4h + k of hmask
// chunks 4u + m. Each sub-block's field is moved by one 16-bit shift (or none) to bits
// kLow, kLow+1 and masked, so its values carry the factor 2^kLow: Q2_K q * 2^kLow,
// q = 0..3; Q3_K v * 2^kLow with the third bit moved to bit kLow + 2, v = low + 4 *
// third = q + 4 (q = -4..3). A shift and a mask are exact for one field: a left shift
// by n fills bits >= n (the target bits, as the source bits are >= 0) from the same
// byte, and a right shift by n fills bits <= 7 - n (the target bits, as the source bits
// are <= 7) from the same byte too.
// kLow is chosen per sub-block to need the fewest shifts (K23Field).
//
// Every sub-block is brought to the column's one factor F = 2^kLogF by its scale: the
// scale (shared by all tokens) is shifted left by kLogF - kLow, so isum_F = F * sum_s
// scale_s * sum over sub-block s of v x, exactly, and one arithmetic shift per block
// and token divides F out (isum_F is a multiple of F). Then Q2_K's isum is that and its
// min term is summ = sum_s min_s * bsums[s]; Q3_K's is that minus 4 * sum_s scale_s *
// bsums[s] (q = v - 4). Both sums take the mins or scales of sub-blocks 2i, 2i+1 as the
// int16 halves of a lane against the dword (bsums[2i], bsums[2i+1]) (vpmaddwd or
// vpdpwssd).
//   VNNI: kLow <= 6 (Q2_K, values <= 3 * 64 = 192) or <= 5 (Q3_K, <= 7 * 32 = 224), so
//     the values are u8 for vpdpbusd, which sums them in int32, and the sub-block sum is
//     multiplied by the scale (vpmulld). F = 64 / 32: |isum_F| <= Q2_K 64 * 256 * 3 *
//     127 * 15 < 2^27, Q3_K 32 * 256 * 7 * 127 * 32 < 2^28.
//   Plain: kLow <= 2, so the values are <= 12 (Q2_K) or <= 28 (Q3_K). A sub-block's 4
//     chunks make 4 vpmaddubsw products-of-pairs per int16 lane, added in int16: <= 4 *
//     2 * 12 * 128 = 12288 or 4 * 2 * 28 * 128 = 28672 (with the values in place, 4^k
//     up to 64, one pair could reach 2 * 192 * 127 = 48768: it would saturate). vpmaddwd
//     with the scale in both int16 halves of a lane (Q2_K 15 * 4 = 60, Q3_K -32 * 4 =
//     -128 at most: int16) multiplies and widens. F = 4.
// The f32 term is the reference's operations in its order, without FMA:
//   Q2_K: sum += (d_w * d_x) * isum - (dmin_w * d_x) * summ;  Q3_K: sum += (d_w * d_x) * isum
// added to the running sum in block order: bit-identical to vec_dot_ref.
#pragma once

#include <type_traits>

#include "cpu/packed_avx2_inl.h"

namespace tandem::cpu {
namespace {

using L2 = PackedQ2K;
using L3 = PackedQ3K;

// Where sub-block S's fields go (file comment): the low bits from kFrom to kLow (Q3_K's
// third bit from kHFrom to kLow + 2), kLow <= kLogF, the fewest shifts, ties to the
// larger kLow (its scale needs a smaller shift, often none).
template <int S, bool kQ3, bool kVnni>
struct K23Field {
  static constexpr int kH = S / 8, kK = S % 8 / 2, kU = S % 2;
  static constexpr int kFrom = 2 * kK, kHFrom = 4 * kH + kK;
  static constexpr int kLogF = kVnni ? (kQ3 ? 5 : 6) : 2;
  static constexpr int shifts(int to) { return (to != kFrom) + (kQ3 && to + 2 != kHFrom); }
  static constexpr int pick() {
    int best = kLogF;
    for (int to = kLogF - 1; to >= 0; --to)
      if (shifts(to) < shifts(best)) best = to;
    return best;
  }
  static constexpr int kLow = pick();
  static constexpr int kScaleShift = kLogF - kLow;
  // The bounds of the file comment: the value bits fit a byte; VNNI values are u8;
  // plain: 4 products-of-pairs of the largest value and |x| <= 128 stay in int16.
  static constexpr int kMaxValue = (kQ3 ? 7 : 3) << kLow;
  static_assert(kLow >= 0 && kLow + (kQ3 ? 2 : 1) <= 7);
  static_assert(kVnni ? kMaxValue <= 255 : 4 * 2 * kMaxValue * 128 <= 32767);
};

// Bits at kFrom moved to kTo by a 16-bit shift (the caller masks).
template <int kFrom, int kTo>
[[gnu::always_inline]] inline __m256i move_bits(__m256i v) {
  if constexpr (kTo > kFrom) return _mm256_slli_epi16(v, kTo - kFrom);
  else if constexpr (kTo < kFrom) return _mm256_srli_epi16(v, kFrom - kTo);
  else return v;
}

// Chunk m of sub-block F's values (times 2^kLow) in one half: qs_half and hm_half are
// the column + 32H (two pointers, so the caller chooses which loads may be merged).
template <typename F, bool kQ3>
[[gnu::always_inline]] inline __m256i k23_values(const std::byte* qs_half, const std::byte* hm_half, int m) {
  constexpr size_t kQs = kQ3 ? L3::kQs : L2::kQs;
  const __m256i qs = load256(qs_half + kQs + 64 * (8 * F::kH + 4 * F::kU + m));
  __m256i v = _mm256_and_si256(move_bits<F::kFrom, F::kLow>(qs), _mm256_set1_epi8(static_cast<char>(3 << F::kLow)));
  if constexpr (kQ3) {
    const __m256i hm = load256(hm_half + L3::kHmask + 64 * (4 * F::kU + m));
    const __m256i third = move_bits<F::kHFrom, F::kLow + 2>(hm);
    v = _mm256_or_si256(v, _mm256_and_si256(third, _mm256_set1_epi8(static_cast<char>(1 << (F::kLow + 2)))));
  }
  return v;
}

// Sub-block F's scales of one half's 8 rows (at sc), times 2^kScaleShift: VNNI as int32
// lanes, plain repeated in both int16 halves of each lane.
template <typename F, bool kQ3, bool kVnni>
[[gnu::always_inline]] inline __m256i k23_scale(const std::byte* sc) {
  if constexpr (kVnni) {
    __m256i s = kQ3 ? lanes_i8(sc) : _mm256_and_si256(lanes_u8(sc), _mm256_set1_epi32(0x0f));
    return F::kScaleShift ? _mm256_slli_epi32(s, F::kScaleShift) : s;
  } else {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc));
    if constexpr (!kQ3) b = _mm_and_si128(b, _mm_set1_epi8(0x0f));
    b = _mm_unpacklo_epi8(b, b);  // each scale twice
    const __m256i s = kQ3 ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
    return F::kScaleShift ? _mm256_slli_epi16(s, F::kScaleShift) : s;
  }
}

// Lane r = (the bytes of sub-blocks 2i and 2i+1 of row r) as int16 halves: Q3_K the
// scales (signed), Q2_K the mins (high nibbles). sc: the scales of sub-block 2i, this half.
template <bool kQ3>
[[gnu::always_inline]] inline __m256i k23_pair(const std::byte* sc) {
  const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc));
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + kPackRows));
  const __m128i ab = _mm_unpacklo_epi8(a, b);
  if constexpr (kQ3) return _mm256_cvtepi8_epi16(ab);
  else return _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(ab, 4), _mm_set1_epi8(0x0f)));
}

template <bool kVnni, bool kQ3, int T>
[[gnu::noinline]] void k23_tokens(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x, float* const* y,
                                  int valid_rows) {
  using L = std::conditional_t<kQ3, L3, L2>;
  constexpr int kLogF = K23Field<0, kQ3, kVnni>::kLogF;
  __m256 acc[T][2];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * L::kBytes;
    for_each_constant<2>([&]<int H>() {
      __m256i isum[T];  // isum_F
      const int8_t* xq[T];  // token t's activations of block b
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) xq[t] = opaque(x[t][b].qs);
      // Sub-blocks by the qs chunks they read: group G = 2h + u, then k, so I = 4G + k.
      for_each_constant<4>([&]<int G>() {
        // One token: a group's four sub-blocks read its qs chunks loaded once. More
        // tokens, and the hmask chunks (shared by 8 sub-blocks): each sub-block loads
        // them again (from L1, mostly as the memory operand of the mask or shift); with
        // those loads merged, GCC kept the chunks live and spilled.
        const std::byte* group_half = opaque(p + 32 * H);
        for_each_constant<4>([&]<int K>() {
          constexpr int S = 8 * (G / 2) + 2 * K + G % 2, I = 4 * G + K;
          using F = K23Field<S, kQ3, kVnni>;
          if constexpr (H == 0) prefetch_ahead<L::kBytes, 2 * I, 2>(p);  // 21 / 29 lines
          const std::byte* qs_half = T == 1 ? group_half : opaque(p + 32 * H);
          const std::byte* hm_half = opaque(p + 32 * H);
          __m256i s[T];
          #pragma GCC unroll 4
          for (int m = 0; m < 4; ++m) {
            const __m256i w = k23_values<F, kQ3>(qs_half, hm_half, m);
            #pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
              const __m256i xs = bcast4(xq[t] + 16 * S + 4 * m);
              s[t] = m == 0 ? first_products<kVnni>(w, xs) : add_products<kVnni>(s[t], w, xs);
            }
          }
          const __m256i scale = k23_scale<F, kQ3, kVnni>(p + L::kScales + kPackRows * S + 8 * H);
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m256i scaled = kVnni ? _mm256_mullo_epi32(s[t], scale) : _mm256_madd_epi16(s[t], scale);
            if constexpr (I == 0) isum[t] = scaled;
            else isum[t] = add32_in_order(isum[t], scaled);
          }
        });
      });
      // Q2_K: the mins; Q3_K: the scales, of sub-blocks 2i and 2i+1.
      __m256i pairs[8];
      const std::byte* sc = opaque(p + L::kScales + 8 * H);  // not merged with the loop's loads
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) pairs[i] = k23_pair<kQ3>(sc + kPackRows * (2 * i));
      const __m256 dw = lanes_f16(p + L::kD + 16 * H);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& xb = x[t][b];
        __m256i ps = _mm256_setzero_si256();  // Q2_K summ, Q3_K sum_s scale_s * bsums[s]
        #pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) ps = dpwssd<kVnni>(ps, pairs[i], bcast4(xb.bsums + 2 * i));
        const __m256 xd = _mm256_set1_ps(xb.d);
        const __m256 d = _mm256_mul_ps(dw, xd);
        __m256i is = _mm256_srai_epi32(isum[t], kLogF);
        if constexpr (kQ3) {
          is = _mm256_sub_epi32(is, _mm256_slli_epi32(ps, 2));
          acc[t][H] = _mm256_add_ps(acc[t][H], _mm256_mul_ps(d, _mm256_cvtepi32_ps(is)));
        } else {
          const __m256 dmin = _mm256_mul_ps(lanes_f16(p + L2::kDmin + 16 * H), xd);
          const __m256 term = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(is)),
                                            _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(ps)));
          acc[t][H] = _mm256_add_ps(acc[t][H], term);
        }
      }
    });
  }
  store_rows<T>(acc, y, valid_rows);
}

template <bool kVnni, bool kQ3>
void gemm_k23(const PackedGemm& a) {
  kquant_passes<kKquantTokens>(a, []<int T>(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x,
                                            float* const* y, int valid) {
    k23_tokens<kVnni, kQ3, T>(gw, nb, x, y, valid);
  });
}

}  // namespace
}  // namespace tandem::cpu
