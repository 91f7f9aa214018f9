// AVX-512 VNNI kernels for packed Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weights (layouts: packed_kernels.h,
// packing: packed_kquant.cpp). Built with the AVX-512 F/BW/VL/DQ/VNNI flags and
// -ffp-contract=off only.
//
// Lane r of every vector is row r of the 16-row group. Per super-block column and
// token, each sub-block's integer dot product runs in its own int32 accumulator:
// vpdpbusd over 4-byte weight chunks (unsigned: Q4_K nibbles 0..15, Q5_K 5-bit values
// 0..31 (a nibble and its qh bit), Q6_K 6-bit values 0..63 put together from a nibble
// and two qh bits), each with that chunk's 4 activation
// bytes broadcast. Q6_K's -32 offset comes out through the accumulator's starting value,
// -32 * bsums[s]. The sub-block sums are multiplied by the lane's scale (vpmulld) and
// summed; Q4_K's (and Q5_K's) min term, sum_j min_j * (bsums[2j] + bsums[2j+1]), is vpdpwssd of each
// min (repeated in both int16 halves of its lane) with the bsums pair. These integer
// sums equal the reference's exactly. The f32 term is then the reference's operations
// in its order, without FMA, added to the running sum in block order:
//   Q4_K, Q5_K: sum += (d_w * d_x) * isum - (dmin_w * d_x) * summ
//   Q6_K: sum += (d_w * d_x) * isum
// so results are bit-identical to vec_dot_ref. Weights are unpacked one sub-block at a
// time and used by up to kMaxTokens tokens (prefill); one or two tokens (decode) take
// each 64-byte chunk once for all the sub-blocks it holds (Q4_K/Q5_K: a pair, Q6_K: a
// quad's four), since there the loads, not the arithmetic, bound the loop.
//
// Q2_K and Q3_K (16 sub-blocks of 16) take their 2-bit fields without shifting: sub-block
// bits 2k, 2k+1 of a byte are masked in place, so vpdpbusd sums q * 4^k; the sub-block
// sum is then divided exactly by 4^k (an arithmetic shift of a multiple of 4^k).
// Q3_K's third bit joins at bit 2k+2 (k = 3: the low bits are first moved down by 2,
// so its values q * 16 still fit a byte), and its -4 offset comes out through the
// accumulator's start, -4 * 4^k * bsums[s]. Q2_K's min term is vpdpwssd of the mins
// (two sub-blocks per int32 lane, as int16 halves) with the bsums pairs.
//
// Everything here has internal linkage except the entry points.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/quant_blocks.h"
#include "cpu/packed_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kMaxTokens = 8;
using L4 = PackedQ4K;
using L5 = PackedQ5K;  // L4's offsets, then qh
using L6 = PackedQ6K;

[[gnu::always_inline]] inline __m512i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

[[gnu::always_inline]] inline __m512i load512(const std::byte* p) {
  return _mm512_loadu_si512(reinterpret_cast<const void*>(p));
}

// 64 bytes at p in a register: GCC otherwise folds the load into every use (and, shift,
// ternary logic), and duplicate 64-byte loads, not the vector ALUs, bound these loops
// on Zen 5.
[[gnu::always_inline]] inline __m512i load512_once(const std::byte* p) {
  __m512i v = load512(p);
  asm("" : "+v"(v));
  return v;
}

// 16 bytes at p (lane r = byte r) widened to int32 lanes.
[[gnu::always_inline]] inline __m512i lanes_u8(const std::byte* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
[[gnu::always_inline]] inline __m512i lanes_i8(const std::byte* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// 16 f16 at p (lane r = value r) as f32.
[[gnu::always_inline]] inline __m512 lanes_f16(const std::byte* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Software prefetch: block column b + kPrefetchColumns is fetched into L1 while column
// b is computed, a few lines per sub-block. With only the hardware prefetchers these
// loops read weights from DRAM at about 2/3 of the rate they reach with it (one thread,
// 43008x4096, Zen 5: Q4_K 23 -> 38 GB/s, Q6_K 23 -> 33 GB/s). Four columns (9.5 KiB of
// Q4_K, 13 KiB of Q6_K) ahead: the Q4_0 kernel needed ~8 KiB to reach the read
// bandwidth; for these types 2 and 4 columns measured within the noise of each other.
// Addresses past the matrix are only hints: a prefetch never faults.
//
// (Q6_K's block column is padded from 3360 to 3392 bytes so every chunk load is 64-byte
// aligned: with the chunks 32 bytes off, the loop ran 30-40% slower from cache.)
constexpr size_t kPrefetchColumns = 4;

template <size_t kColumnBytes, int kFirstLine, int kLines>
[[gnu::always_inline]] inline void prefetch_ahead(const std::byte* column) {
  constexpr int kTotal = static_cast<int>(kColumnBytes / 64);
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(column) + kPrefetchColumns * kColumnBytes;
  #pragma GCC unroll 8
  for (int l = kFirstLine; l < kFirstLine + kLines && l < kTotal; ++l)
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * static_cast<uintptr_t>(l)), _MM_HINT_T0);
}

// Calls body.template operator()<I>() for I = 0 .. N-1, each with I a constant.
template <int N, typename Body>
[[gnu::always_inline]] inline void for_each_constant(Body&& body) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (body.template operator()<I>(), ...);
  }(std::make_integer_sequence<int, N>{});
}

template <int T>
[[gnu::always_inline]] inline void store_rows(const __m512 (&acc)[T], float* const* y, int valid_rows) {
  const __mmask16 m = static_cast<__mmask16>((1u << valid_rows) - 1);
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y[t], m, acc[t]);
}

// The f32 term of a block with mins, added to acc in the reference's operations:
//   acc += (d_w * d_x) * isum - (dmin_w * d_x) * summ,
// summ = sum_j mins[j] . (bsums[2j], bsums[2j+1]) (vpdpwssd; each mins[j] lane holds two
// int16 factors for the two bsums of its pair).
[[gnu::always_inline]] inline __m512 add_min_term(__m512 acc, __m512i isum, const __m512i (&mins)[8],
                                                  __m512 dw, __m512 dminw, const BlockQ8_K& xb) {
  __m512i summ = _mm512_setzero_si512();
  #pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) summ = _mm512_dpwssd_epi32(summ, mins[j], bcast4(xb.bsums + 2 * j));
  const __m512 xd = _mm512_set1_ps(xb.d);
  const __m512 d = _mm512_mul_ps(dw, xd);
  const __m512 dmin = _mm512_mul_ps(dminw, xd);
  return _mm512_add_ps(acc, _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)),
                                          _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(summ))));
}

// ---- Q2_K, Q3_K ---------------------------------------------------------------------

// Sub-block S = 8h + 2k + u of a Q2_K/Q3_K column: chunks 8h + 4u + m (m = 0..3) of qs
// hold its elements 16S + 4m + (0..3) in bits 2k, 2k+1; Q3_K's third bits are bit
// 4h + k of hmask chunks 4u + m. kShift: log2 of the factor the values carry.
template <int S, bool kQ3>
struct K23Sub {
  static constexpr int kH = S / 8, kK = S % 8 / 2, kU = S % 2;
  static constexpr int kShift = kQ3 && kK == 3 ? 4 : 2 * kK;
};

// The 4 bytes per lane of chunk m of sub-block S as unsigned values times 2^kShift.
template <int S, bool kQ3>
[[gnu::always_inline]] inline __m512i k23_values(const std::byte* p, int m) {
  using Sub = K23Sub<S, kQ3>;
  constexpr size_t kQsOff = kQ3 ? PackedQ3K::kQs : PackedQ2K::kQs;
  const __m512i qs = load512(p + kQsOff + 64 * (8 * Sub::kH + 4 * Sub::kU + m));
  __m512i low;  // the two bits at bits kShift, kShift + 1
  if constexpr (kQ3 && Sub::kK == 3) low = _mm512_and_si512(_mm512_srli_epi16(qs, 2), _mm512_set1_epi8(0x30));
  else low = _mm512_and_si512(qs, _mm512_set1_epi8(static_cast<char>(3 << (2 * Sub::kK))));
  if constexpr (!kQ3) {
    return low;
  } else {
    // Third bit: bit 4h + k of the hmask byte, to bit kShift + 2. The 16-bit shifts
    // (left by 2..4 or right by 0..2) bring the other byte's bits only to bits below
    // the shift (left) or at 6-7 above it (right), never to the target bit.
    constexpr int kFrom = 4 * Sub::kH + Sub::kK, kTo = Sub::kShift + 2;
    const __m512i hm = load512(p + PackedQ3K::kHmask + 64 * (4 * Sub::kU + m));
    __m512i moved;
    if constexpr (kTo > kFrom) moved = _mm512_slli_epi16(hm, kTo - kFrom);
    else if constexpr (kTo < kFrom) moved = _mm512_srli_epi16(hm, kFrom - kTo);
    else moved = hm;
    return _mm512_ternarylogic_epi32(low, moved, _mm512_set1_epi8(static_cast<char>(1 << kTo)), 0xf8);
  }
}

template <int T, bool kQ3>
[[gnu::always_inline]] inline void k23_tokens(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x,
                                              float* const* y, int valid_rows) {
  using L = std::conditional_t<kQ3, PackedQ3K, PackedQ2K>;
  constexpr int kLinesPerSub = 2;  // 16 sub-blocks prefetch the 21 (Q2_K) / 29 (Q3_K) lines
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * L::kBytes;
    __m512i isum[T];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for_each_constant<16>([&]<int S>() {
      using Sub = K23Sub<S, kQ3>;
      prefetch_ahead<L::kBytes, kLinesPerSub * S, kLinesPerSub>(p);
      __m512i s[T];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        if constexpr (kQ3) s[t] = _mm512_set1_epi32(-(4 << Sub::kShift) * x[t][b].bsums[S]);
        else s[t] = _mm512_setzero_si512();
      }
      #pragma GCC unroll 4
      for (int m = 0; m < 4; ++m) {
        const __m512i w = k23_values<S, kQ3>(p, m);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) s[t] = _mm512_dpbusd_epi32(s[t], w, bcast4(x[t][b].qs + 16 * S + 4 * m));
      }
      __m512i scale;
      if constexpr (kQ3) scale = lanes_i8(p + L::kScales + kPackRows * S);
      else scale = _mm512_and_si512(lanes_u8(p + L::kScales + kPackRows * S), _mm512_set1_epi32(0x0f));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_srai_epi32(s[t], Sub::kShift), scale));
    });
    const __m512 dw = lanes_f16(p + L::kD);
    if constexpr (kQ3) {
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][b].d));
        acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[t])));
      }
    } else {
      // mins[i]: lane r = min of sub-block 2i | min of sub-block 2i+1 << 16.
      __m512i mins[8];
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i lo = _mm512_srli_epi32(lanes_u8(p + L::kScales + kPackRows * (2 * i)), 4);
        const __m512i hi = _mm512_srli_epi32(lanes_u8(p + L::kScales + kPackRows * (2 * i + 1)), 4);
        mins[i] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
      }
      const __m512 dminw = lanes_f16(p + PackedQ2K::kDmin);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) acc[t] = add_min_term(acc[t], isum[t], mins, dw, dminw, x[t][b]);
    }
  }
  store_rows<T>(acc, y, valid_rows);
}

// ---- Q4_K, Q5_K ---------------------------------------------------------------------

// Bit J of every byte of qh moved to bit 4 (other bits: garbage, masked by the caller).
// The 16-bit shifts move bits across the bytes of a word only into bits 0-3 (left
// shifts by at most 4) or 5-7 (right shifts by at most 3), never into bit 4.
template <int J>
[[gnu::always_inline]] inline __m512i q5_k_bit_to_4(__m512i qh) {
  if constexpr (J < 4) return _mm512_slli_epi16(qh, 4 - J);
  else if constexpr (J == 4) return qh;
  else return _mm512_srli_epi16(qh, J - 4);
}

// The f32 terms of Q4_K/Q5_K block column p for T tokens (add_min_term). Each min is
// in both int16 halves of its lane: vpdpwssd with the dword (bsums[2j], bsums[2j+1])
// gives min_j * (bsums[2j] + bsums[2j+1]).
template <int T>
[[gnu::always_inline]] inline void add_q4_k_terms(__m512 (&acc)[T], const __m512i (&isum)[T], const std::byte* p,
                                                  const BlockQ8_K* const* x, int64_t b) {
  __m512i mins[8];
  #pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const __m512i m = lanes_u8(p + L4::kMins + kPackRows * j);
    mins[j] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
  }
  const __m512 dw = lanes_f16(p + L4::kD);
  const __m512 dminw = lanes_f16(p + L4::kDmin);
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = add_min_term(acc[t], isum[t], mins, dw, dminw, x[t][b]);
}

// Q4_K/Q5_K for one or two tokens (decode): sub-blocks 2P and 2P + 1 (the low and high
// nibbles of the same 8 chunks) together, each chunk (and Q5_K's qh chunk) loaded once;
// the generic loop below loads them once per sub-block, which is what bounds it for few
// tokens. Q4_K's high nibbles stay in place (values 16 q; the sub-block sum, a multiple
// of 16, is shifted down exactly before its scale), saving a shift per chunk. The
// integer sums are the same, so the results are too.
template <int T, bool kQ5>
[[gnu::always_inline]] inline void q4_k_tokens_by_pair(const std::byte* gw, int64_t nb,
                                                       const BlockQ8_K* const* x, float* const* y,
                                                       int valid_rows) {
  constexpr size_t kColumnBytes = kQ5 ? L5::kBytes : L4::kBytes;
  constexpr int kLinesPerPair = kQ5 ? 12 : 10;  // 4 pairs prefetch the 37 / 45 lines
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * kColumnBytes;
    __m512i isum[T];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for_each_constant<4>([&]<int P>() {
      constexpr int kJ = 2 * P;  // sub-blocks kJ (low nibbles), kJ + 1 (high)
      prefetch_ahead<kColumnBytes, kLinesPerPair * P, kLinesPerPair>(p);
      __m512i s[T][2];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) s[t][0] = s[t][1] = _mm512_setzero_si512();
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i raw = load512_once(p + L4::kQs + 64 * (8 * P + i));
        __m512i lo = _mm512_and_si512(raw, low4), hi;
        if constexpr (kQ5) {
          const __m512i qh = load512_once(p + L5::kQh + 64 * i);
          lo = _mm512_ternarylogic_epi32(lo, q5_k_bit_to_4<kJ>(qh), bit4, 0xf8);
          hi = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(raw, 4), low4),
                                         q5_k_bit_to_4<kJ + 1>(qh), bit4, 0xf8);
        } else {
          hi = _mm512_andnot_si512(low4, raw);
        }
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          s[t][0] = _mm512_dpbusd_epi32(s[t][0], lo, bcast4(x[t][b].qs + 32 * kJ + 4 * i));
          s[t][1] = _mm512_dpbusd_epi32(s[t][1], hi, bcast4(x[t][b].qs + 32 * (kJ + 1) + 4 * i));
        }
      }
      const __m512i scale_lo = lanes_u8(p + L4::kScales + kPackRows * kJ);
      const __m512i scale_hi = lanes_u8(p + L4::kScales + kPackRows * (kJ + 1));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m512i sub_hi = kQ5 ? s[t][1] : _mm512_srai_epi32(s[t][1], 4);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s[t][0], scale_lo),
                                                             _mm512_mullo_epi32(sub_hi, scale_hi)));
      }
    });
    add_q4_k_terms<T>(acc, isum, p, x, b);
  }
  store_rows<T>(acc, y, valid_rows);
}

template <int T, bool kQ5>
[[gnu::always_inline]] inline void q4_k_tokens(const std::byte* gw, int64_t nb,
                                               const BlockQ8_K* const* x, float* const* y,
                                               int valid_rows) {
  if constexpr (T <= 2) return q4_k_tokens_by_pair<T, kQ5>(gw, nb, x, y, valid_rows);
  constexpr size_t kColumnBytes = kQ5 ? L5::kBytes : L4::kBytes;
  constexpr int kLinesPerSub = kQ5 ? 6 : 5;  // 8 sub-blocks prefetch the 37 / 45 lines
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * kColumnBytes;
    __m512i isum[T];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    // Sub-block j (elements 32j ..): the low (even j) or high (odd j) nibbles of
    // chunks 8(j/2) .. 8(j/2)+7.
    for_each_constant<8>([&]<int J>() {
      prefetch_ahead<kColumnBytes, kLinesPerSub * J, kLinesPerSub>(p);
      __m512i s[T];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) s[t] = _mm512_setzero_si512();
      #pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512i raw = load512(p + L4::kQs + 64 * (8 * (J / 2) + i));
        __m512i w = J % 2 == 0 ? _mm512_and_si512(raw, low4)
                               : _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
        if constexpr (kQ5)  // w | (qh bit J at bit 4): elements 4i.. of sub-block J
          w = _mm512_ternarylogic_epi32(w, q5_k_bit_to_4<J>(load512(p + L5::kQh + 64 * i)), bit4, 0xf8);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) s[t] = _mm512_dpbusd_epi32(s[t], w, bcast4(x[t][b].qs + 32 * J + 4 * i));
      }
      const __m512i scale = lanes_u8(p + L4::kScales + kPackRows * J);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], scale));
    });
    add_q4_k_terms<T>(acc, isum, p, x, b);
  }
  store_rows<T>(acc, y, valid_rows);
}

// ---- Q6_K ---------------------------------------------------------------------------

// Element k-group K (0..3) of a quad as unsigned 6-bit bytes: low nibbles of the first
// (K = 0) or second (K = 1) ql chunk, high nibbles (K = 2, 3), with qh bits 2K, 2K+1
// as bits 4-5. The 16-bit shifts move only whole nibbles or bit pairs within a byte
// where it matters: bits 4-5 of each result byte come from that byte's own qh bits.
template <int K>
[[gnu::always_inline]] inline __m512i q6_k_group(__m512i ql, __m512i qh, __m512i low4, __m512i bits45) {
  const __m512i nib = K < 2 ? _mm512_and_si512(ql, low4) : _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
  __m512i high;  // qh bits 2K, 2K+1 at bits 4-5
  if constexpr (K == 0) high = _mm512_slli_epi16(qh, 4);
  if constexpr (K == 1) high = _mm512_slli_epi16(qh, 2);
  if constexpr (K == 2) high = qh;
  if constexpr (K == 3) high = _mm512_srli_epi16(qh, 2);
  return _mm512_ternarylogic_epi32(nib, high, bits45, 0xd8);  // bits45 ? high : nib
}
// The same from the quad's chunks: ql chunk K % 2, qh chunk.
template <int K>
[[gnu::always_inline]] inline __m512i q6_k_values(const std::byte* quad, __m512i low4, __m512i bits45) {
  return q6_k_group<K>(load512(quad + 64 * (K % 2)), load512(quad + 128), low4, bits45);
}

// The f32 term of Q6_K block column p for T tokens, added to acc: (d_w * d_x) * isum.
template <int T>
[[gnu::always_inline]] inline void add_q6_k_terms(__m512 (&acc)[T], const __m512i (&isum)[T], const std::byte* p,
                                                  const BlockQ8_K* const* x, int64_t b) {
  const __m512 dw = lanes_f16(p + L6::kD);
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(x[t][b].d));
    acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[t])));
  }
}

// Q6_K for one or two tokens (decode): quad by quad, each quad's three chunks loaded once
// and all four of its k-groups (sub-blocks S = 8h + 2K + u, K = 0..3) taken from them,
// into four accumulators per token; the generic loop below goes sub-block by sub-block
// and loads each qh chunk four times and each ql chunk twice, which is what bounds it
// for few tokens. The integer sums are the same, so the results are too.
template <int T>
[[gnu::always_inline]] inline void q6_k_tokens_by_quad(const std::byte* gw, int64_t nb,
                                                       const BlockQ8_K* const* x, float* const* y,
                                                       int valid_rows) {
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * L6::kBytes;
    __m512i isum[T];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for_each_constant<4>([&]<int HU>() {  // h = HU / 2, u = HU % 2: quads 8h + 4u + m
      constexpr int kH = HU / 2, kU = HU % 2;
      __m512i s[T][4];  // s[t][K]: sub-block 8h + 2K + u
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        for (int k = 0; k < 4; ++k) s[t][k] = _mm512_set1_epi32(-32 * x[t][b].bsums[8 * kH + 2 * k + kU]);
      for_each_constant<4>([&]<int M>() {
        prefetch_ahead<L6::kBytes, 4 * (4 * HU + M), 4>(p);  // 53 lines
        const std::byte* quad = p + L6::kQuads + 3 * 64 * (8 * kH + 4 * kU + M);
        const __m512i ql0 = load512_once(quad), ql1 = load512_once(quad + 64);
        const __m512i qh = load512_once(quad + 128);
        const __m512i w[4] = {q6_k_group<0>(ql0, qh, low4, bits45), q6_k_group<1>(ql1, qh, low4, bits45),
                              q6_k_group<2>(ql0, qh, low4, bits45), q6_k_group<3>(ql1, qh, low4, bits45)};
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t)
          #pragma GCC unroll 4
          for (int k = 0; k < 4; ++k)
            s[t][k] = _mm512_dpbusd_epi32(s[t][k], w[k], bcast4(x[t][b].qs + 16 * (8 * kH + 2 * k + kU) + 4 * M));
      });
      #pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m512i scale = lanes_i8(p + L6::kScales + kPackRows * (8 * kH + 2 * k + kU));
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t][k], scale));
      }
    });
    add_q6_k_terms<T>(acc, isum, p, x, b);
  }
  store_rows<T>(acc, y, valid_rows);
}

template <int T>
[[gnu::always_inline]] inline void q6_k_tokens(const std::byte* gw, int64_t nb,
                                               const BlockQ8_K* const* x, float* const* y,
                                               int valid_rows) {
  if constexpr (T <= 2) return q6_k_tokens_by_quad<T>(gw, nb, x, y, valid_rows);
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * L6::kBytes;
    __m512i isum[T];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    // Sub-block S = 8h + 2K + u (elements 16S ..): k-group K of quads 8h + 4u .. +3.
    for_each_constant<16>([&]<int S>() {
      constexpr int kH = S / 8, kK = S % 8 / 2, kU = S % 2;
      prefetch_ahead<L6::kBytes, 4 * S, 4>(p);  // 53 lines
      __m512i s[T];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) s[t] = _mm512_set1_epi32(-32 * x[t][b].bsums[S]);
      #pragma GCC unroll 4
      for (int m = 0; m < 4; ++m) {
        const std::byte* quad = p + L6::kQuads + 3 * 64 * (8 * kH + 4 * kU + m);
        const __m512i w = q6_k_values<kK>(quad, low4, bits45);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) s[t] = _mm512_dpbusd_epi32(s[t], w, bcast4(x[t][b].qs + 16 * S + 4 * m));
      }
      const __m512i scale = lanes_i8(p + L6::kScales + kPackRows * S);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], scale));
    });
    add_q6_k_terms<T>(acc, isum, p, x, b);
  }
  store_rows<T>(acc, y, valid_rows);
}

// ---- driver -------------------------------------------------------------------------

enum class KType { kQ2, kQ3, kQ4, kQ5, kQ6 };

template <KType kType>
void gemm_kquant(const PackedGemm& a) {
  const int64_t nb = a.w->cols / kQK_K;
  const BlockQ8_K* x[kMaxTokens];
  float* y[kMaxTokens];
  for (int64_t g = a.group_begin; g < a.group_end; ++g) {
    const std::byte* gw = a.w->group(g);
    const int64_t row0 = g * kPackRows;
    const int valid = static_cast<int>(a.w->rows - row0 < kPackRows ? a.w->rows - row0 : kPackRows);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kMaxTokens) {
      const int n = static_cast<int>(a.n_tokens - t0 < kMaxTokens ? a.n_tokens - t0 : kMaxTokens);
      for (int t = 0; t < n; ++t) {
        x[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_stride);
        y[t] = a.y + (t0 + t) * a.y_stride + row0;
      }
      for_each_constant<kMaxTokens>([&]<int I>() {
        constexpr int kT = I + 1;
        if (n != kT) return;
        if constexpr (kType == KType::kQ6) q6_k_tokens<kT>(gw, nb, x, y, valid);
        else if constexpr (kType == KType::kQ2 || kType == KType::kQ3) k23_tokens<kT, kType == KType::kQ3>(gw, nb, x, y, valid);
        else q4_k_tokens<kT, kType == KType::kQ5>(gw, nb, x, y, valid);
      });
    }
  }
}

}  // namespace

void gemm_q2_kx16_avx512vnni(const PackedGemm& a) { gemm_kquant<KType::kQ2>(a); }
void gemm_q3_kx16_avx512vnni(const PackedGemm& a) { gemm_kquant<KType::kQ3>(a); }
void gemm_q4_kx16_avx512vnni(const PackedGemm& a) { gemm_kquant<KType::kQ4>(a); }
void gemm_q5_kx16_avx512vnni(const PackedGemm& a) { gemm_kquant<KType::kQ5>(a); }
void gemm_q6_kx16_avx512vnni(const PackedGemm& a) { gemm_kquant<KType::kQ6>(a); }

}  // namespace tandem::cpu
