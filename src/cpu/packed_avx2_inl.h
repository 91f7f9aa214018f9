// The AVX2 packed-weight kernels (layouts: packed_kernels.h): Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K and Q6_K here, Q2_K and Q3_K in packed_avx2_k23_inl.h, written once
// for two instruction sets: kVnni = false is plain AVX2 (Haswell and later: vpmaddubsw
// + vpmaddwd), kVnni = true uses AVX-VNNI (256-bit VEX vpdpbusd / vpdpwssd: Alder Lake
// and later, Zen 5).
//
// Included ONLY by packed_avx2.cpp (built with -mavx2 -mfma -mf16c) and
// packed_avxvnni.cpp (the same plus -mavxvnni). Everything is in an unnamed namespace,
// so each of those translation units gets its own copy compiled with its own flags:
// the linker never picks the AVX-VNNI build of a function for the AVX2 file (the
// hazard gemv_kernels.h describes for inline code with external linkage).
//
// A packed block column holds 16 rows; its 64-byte chunks have row r's 4 bytes at
// bytes 4r..4r+3, so the low 32 bytes are rows 0-7 and the high 32 bytes rows 8-15.
// The kernels run the two halves in turn, each with int32 lane r = row 8h + r, and
// keep one f32 accumulator per half and token.
//
// Integer sums, exact and equal to the reference's:
//   VNNI: vpdpbusd over 4-byte chunks (weights unsigned, each chunk's 4 activation
//     bytes broadcast), as the AVX-512 kernels do; offsets (Q4_0 8, Q5_0 16, Q8_0's
//     stored +128, Q6_K 32; Q4_1 and Q5_1 have none) come out through the starting
//     value, -offset * sum(x).
//   Plain: vpmaddubsw makes int16 sums of two u8 x s8 products, which saturate above
//     32767; the kernels add several of them in int16 only while the total cannot
//     pass that, then widen with vpmaddwd (by ones, or by each lane's sub-block scale
//     repeated in both int16 halves, which also multiplies by it). |x| <= 127 (the
//     quantizers never make -128); the bounds below allow 128 where they can:
//       Q4_0, Q4_1, Q4_K: nibbles <= 15: 8 products-of-pairs <= 8 * 2 * 15 * 128 =
//         30720.
//       Q5_0, Q5_1, Q5_K: 5-bit values <= 31: 4 products-of-pairs <= 4 * 2 * 31 *
//         128 = 31744 (8 would pass 32767), so each int16 sum takes 4 chunks:
//         Q5_0/Q5_1 the low and high elements of 2 nibble chunks, Q5_K half a sub-block.
//       Q6_K: 6-bit values <= 63: two of them <= 2 * 16128 = 32256.
//       Q8_0: the stored +128 bytes times s8 could reach 2 * 255 * 127, so the weight
//         goes back to signed (xor 0x80) and the pair is |w| * (x with w's sign):
//         |w| <= 128 (u8), |x| <= 127, <= 32512.
//       Q2_K, Q3_K: packed_avx2_k23_inl.h.
//     Q6_K's -32 offset is subtracted at the end as 32 * sum_s scale_s * bsums_s
//     (vpmaddwd of scale pairs with bsums pairs).
//   VNNI, Q4_K, one token: two vpdpbusd chains per sub-block (latency), each
//     <= 16 * 15 * 128 = 30720, go on as the int16 halves of a lane into vpdpwssd with
//     the scale in both halves; otherwise (Q5_K's chains can reach 16 * 31 * 128) the
//     sub-block sum is multiplied by vpmulld.
// Then the block's f32 term is the reference's operations in its order, without FMA
// (Q4_1/Q5_1: (d_w * d_x) * isum + m_w * s_x, ActBlockQ8_1 activations),
// added to the running sum in block order (see packed_kquant_avx512.cpp), so results
// are bit-identical to vec_dot_ref.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "core/quant_blocks.h"
#include "cpu/packed_kernels.h"

namespace tandem::cpu {
namespace {

enum class Legacy { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0 };

// Types with a min (d[16], m[16] before the chunks; ActBlockQ8_1 activations).
constexpr bool has_min(Legacy t) { return t == Legacy::kQ4_1 || t == Legacy::kQ5_1; }
constexpr bool is_q5(Legacy t) { return t == Legacy::kQ5_0 || t == Legacy::kQ5_1; }
template <Legacy kType>
using ActOf = std::conditional_t<has_min(kType), ActBlockQ8_1, ActBlock32>;

// Tokens per pass over a group: each unpacked weight chunk serves them all, and each
// token keeps two f32 accumulators (16 ymm registers in all). Measured (one thread,
// weights in L2, Zen 5): Q4_0/Q8_0 ran 5-8% faster per token with 8 than with 4;
// Q4_K/Q6_K ran 25-35% slower with 8 (their sub-block sums spill). The plain Q5_0 and
// Q5_1 kernels keep an int16 and an int32 sum per token, so they take 4.
template <bool kVnni, Legacy kType>
constexpr int kLegacyTokens = !kVnni && is_q5(kType) ? 4 : 8;
constexpr int kKquantTokens = 4;
static_assert(kActChunk % 8 == 0, "a pass must not straddle an activation chunk");
using L4 = PackedQ4K;
using L5 = PackedQ5K;  // L4's offsets, then qh
using L6 = PackedQ6K;

// ---- helpers --------------------------------------------------------------------------

[[gnu::always_inline]] inline __m256i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

[[gnu::always_inline]] inline __m256i load256(const std::byte* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// 8 bytes at p (lane r = byte r) widened to int32 lanes.
[[gnu::always_inline]] inline __m256i lanes_u8(const std::byte* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
[[gnu::always_inline]] inline __m256i lanes_i8(const std::byte* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
// 8 f16 at p (lane r = value r) as f32.
[[gnu::always_inline]] inline __m256 lanes_f16(const std::byte* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// int32 lanes a (low) and b (high), each in int16 range, as int16 pairs.
[[gnu::always_inline]] inline __m256i pair16(__m256i a, __m256i b) {
  return _mm256_blend_epi16(a, _mm256_slli_epi32(b, 16), 0xaa);
}

// acc + the u8 x s8 products of each 4-byte group: vpdpbusd (VNNI builds only).
template <bool kVnni>
[[gnu::always_inline]] inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
#ifdef __AVXVNNI__
  static_assert(kVnni, "the plain AVX2 kernels use vpmaddubsw");
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  static_assert(kVnni && !kVnni, "the AVX-VNNI kernels need -mavxvnni");
  return acc;
#endif
}
// acc + the int16 x int16 products of each pair: vpdpwssd, or vpmaddwd and an add.
template <bool kVnni>
[[gnu::always_inline]] inline __m256i dpwssd(__m256i acc, __m256i a, __m256i b) {
  if constexpr (kVnni) {
#ifdef __AVXVNNI__
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    static_assert(kVnni && !kVnni, "the AVX-VNNI kernels need -mavxvnni");
#endif
  }
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}

// p, hidden from the optimizer: loads through the result are not merged with loads
// through p. Each half of a block column re-reads its broadcast activations this way,
// and each Q6_K sub-block its quads: merged, GCC kept all of a block's broadcasts (64
// for Q4_K/Q6_K) or quads live at once and spilled them to the stack, which cost more
// than loading again from L1.
template <typename P>
[[gnu::always_inline]] inline P* opaque(P* p) {
  asm volatile("" : "+r"(p));  // volatile: two of these with one input are not merged
  return p;
}

// a + b (int16 lanes), kept in the order written: GCC otherwise turns a chain of adds
// of vpmaddubsw products into a tree whose products are all live at once, and with 16
// ymm registers it then spilled most of them (and their broadcast operands).
[[gnu::always_inline]] inline __m256i add16_in_order(__m256i a, __m256i b) {
  __m256i s = _mm256_add_epi16(a, b);
  asm("" : "+x"(s));
  return s;
}
[[gnu::always_inline]] inline __m256i add32_in_order(__m256i a, __m256i b) {
  __m256i s = _mm256_add_epi32(a, b);
  asm("" : "+x"(s));
  return s;
}

// Calls body.template operator()<I>() for I = 0 .. N-1, each with I a constant.
template <int N, typename Body>
[[gnu::always_inline]] inline void for_each_constant(Body&& body) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (body.template operator()<I>(), ...);
  }(std::make_integer_sequence<int, N>{});
}

// Stores rows 0 .. valid_rows-1 of each token's two halves.
template <int T>
[[gnu::always_inline]] inline void store_rows(const __m256 (&acc)[T][2], float* const* y, int valid_rows) {
  #pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const int n = valid_rows - 8 * h;
    if (n <= 0) break;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      if (n >= 8) _mm256_storeu_ps(y[t] + 8 * h, acc[t][h]);
      else _mm256_maskstore_ps(y[t] + 8 * h, mask, acc[t][h]);
    }
  }
}

// Block column b + kPrefetchColumns is fetched into L1 while column b is computed (the
// AVX-512 kernels' reasons and distances: packed_legacy_avx512.cpp,
// packed_kquant_avx512.cpp). Addresses past the matrix are only hints.
constexpr size_t kPrefetchColumns = 4;

template <size_t kColumnBytes, int kFirstLine, int kLines>
[[gnu::always_inline]] inline void prefetch_ahead(const std::byte* column) {
  constexpr int kTotal = static_cast<int>(kColumnBytes / 64);
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(column) + kPrefetchColumns * kColumnBytes;
  #pragma GCC unroll 8
  for (int l = kFirstLine; l < kFirstLine + kLines && l < kTotal; ++l)
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * static_cast<uintptr_t>(l)), _MM_HINT_T0);
}

// ---- Q4_0, Q5_0, Q8_0 -------------------------------------------------------------------

// Nibble chunk j of a Q4_0/Q5_0 block half (q: its chunks, 64 bytes apart): lo = the
// elements 4j .. 4j+3 (low nibbles), hi = 16 + 4j .. (high nibbles). Q5_0: with their
// 5th bits (the 64 bytes after the four chunks) at bit 4: bit j of each byte for lo,
// bit 4+j for hi. The 16-bit shifts (left by 1..4, right by 0..3) never carry a bit of
// the other byte into bit 4.
template <bool kQ5>
[[gnu::always_inline]] inline void nibble_chunk(const std::byte* q, int j, __m256i low4, __m256i bit4, __m256i& lo,
                                                __m256i& hi) {
  const __m256i raw = load256(q + 64 * j);
  lo = _mm256_and_si256(raw, low4);
  hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
  if constexpr (kQ5) {
    const __m256i h = load256(q + 256);
    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(h, 4 - j), bit4));
    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_srli_epi16(h, j), bit4));
  }
}

// A lane's starting value: -offset * sum(x block), zero for the types without offset.
template <int kOffset, typename Act>
[[gnu::always_inline]] inline __m256i offset_start(const Act& x) {
  if constexpr (kOffset == 0) return _mm256_setzero_si256();
  else return _mm256_set1_epi32(-kOffset * x.sum);
}

// Q4_0 (4 chunks of nibble pairs, offset 8), Q5_0 (the same and a chunk of 5th bits,
// offset 16), Q4_1 and Q5_1 (as Q4_0 and Q5_0 after d and m, no offset), Q8_0 (8
// chunks, stored + 128). xc[b * kActChunk + t]: token t's block b.
template <bool kVnni, Legacy kType, int T>
[[gnu::noinline]] void legacy_tokens(const std::byte* gw, int64_t nb, const ActOf<kType>* xc,
                                     float* const* y, int valid_rows) {
  constexpr bool kNibbles = kType != Legacy::kQ8_0;
  constexpr bool kQ5 = is_q5(kType);
  constexpr bool kMin = has_min(kType);
  constexpr size_t kHeader = kMin ? 4 * 16 : 2 * 16;  // d[16] (and m[16]) f16
  constexpr size_t kBlockBytes = kHeader + (kQ5 ? 16 * 16 + 64 : kNibbles ? 16 * 16 : 16 * 32);
  [[maybe_unused]] constexpr int kOffset =  // unused by plain Q8_0 (its weights go back to signed)
      kType == Legacy::kQ4_0 ? 8 : kType == Legacy::kQ5_0 ? 16 : kMin ? 0 : 128;
  constexpr size_t kPrefetchBlocks = 8192 / kBlockBytes + 1;  // ~8 KiB ahead
  // Lines a block column can touch: one more where columns are not 64-byte multiples.
  constexpr size_t kPrefetchSpan = kBlockBytes % 64 == 0 ? kBlockBytes : kBlockBytes + 63;
  constexpr int kChains = kVnni && T == 1 ? 2 : 1;            // independent vpdpbusd chains
  __m256 acc[T][2];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * kBlockBytes;
    #pragma GCC unroll 9
    for (size_t off = 0; off < kPrefetchSpan; off += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBlocks * kBlockBytes + off, _MM_HINT_T0);
    for_each_constant<2>([&]<int H>() {
      const ActOf<kType>* x = opaque(xc + b * kActChunk);  // x[t]: token t's block b
      const std::byte* q = p + kHeader + 32 * H;  // chunk j at q + 64 j
      __m256i isum[T];
      if constexpr (kVnni) {
        __m256i s[T][kChains];
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          s[t][0] = offset_start<kOffset>(x[t]);
          if constexpr (kChains == 2) s[t][1] = _mm256_setzero_si256();
        }
        if constexpr (kNibbles) {
          #pragma GCC unroll 4
          for (int j = 0; j < 4; ++j) {
            __m256i lo, hi;
            nibble_chunk<kQ5>(q, j, low4, bit4, lo, hi);
            #pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
              s[t][0] = dpbusd<kVnni>(s[t][0], lo, bcast4(x[t].qs + 4 * j));
              s[t][kChains - 1] = dpbusd<kVnni>(s[t][kChains - 1], hi, bcast4(x[t].qs + 16 + 4 * j));
            }
          }
        } else {
          #pragma GCC unroll 8
          for (int j = 0; j < 8; ++j) {
            const __m256i u = load256(q + 64 * j);
            #pragma GCC unroll 8
            for (int t = 0; t < T; ++t)
              s[t][j % kChains] = dpbusd<kVnni>(s[t][j % kChains], u, bcast4(x[t].qs + 4 * j));
          }
        }
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) isum[t] = kChains == 2 ? _mm256_add_epi32(s[t][0], s[t][kChains - 1]) : s[t][0];
      } else if constexpr (kNibbles) {
        // int16 sums of the low and high products of kPerSum chunks: Q4_0/Q4_1 all 4 (8
        // products-of-pairs <= 30720), Q5_0/Q5_1 2 (4 <= 31744); then widened into isum.
        constexpr int kPerSum = kQ5 ? 2 : 4;
        __m256i s16[T];
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          __m256i lo, hi;
          nibble_chunk<kQ5>(q, j, low4, bit4, lo, hi);
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m256i pl = _mm256_maddubs_epi16(lo, bcast4(x[t].qs + 4 * j));
            const __m256i ph = _mm256_maddubs_epi16(hi, bcast4(x[t].qs + 16 + 4 * j));
            s16[t] = j % kPerSum == 0 ? add16_in_order(pl, ph) : add16_in_order(add16_in_order(s16[t], pl), ph);
          }
          if (j % kPerSum == kPerSum - 1) {
            #pragma GCC unroll 8
            for (int t = 0; t < T; ++t) {
              const __m256i wide = _mm256_madd_epi16(s16[t], ones);
              isum[t] = j < kPerSum ? _mm256_add_epi32(wide, offset_start<kOffset>(x[t]))
                                    : add32_in_order(isum[t], wide);
            }
          }
        }
      } else {
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
        const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
        #pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) {
          const __m256i w = _mm256_xor_si256(load256(q + 64 * j), flip);  // the signed weights
          const __m256i aw = _mm256_abs_epi8(w);                           // |w|, -128 -> 128 as u8
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m256i sx = _mm256_sign_epi8(bcast4(x[t].qs + 4 * j), w);
            isum[t] = add32_in_order(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones));
          }
        }
      }
      const __m256 dw = lanes_f16(p + 16 * H);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256 dd = _mm256_mul_ps(dw, _mm256_set1_ps(x[t].d));
        __m256 term = _mm256_mul_ps(_mm256_cvtepi32_ps(isum[t]), dd);
        if constexpr (kMin) {  // + m_w * s_x, the reference's second product
          const __m256 mw = lanes_f16(p + 32 + 16 * H);
          term = _mm256_add_ps(term, _mm256_mul_ps(mw, _mm256_set1_ps(x[t].s)));
        }
        acc[t][H] = _mm256_add_ps(acc[t][H], term);
      }
    });
  }
  store_rows<T>(acc, y, valid_rows);
}

template <bool kVnni, Legacy kType>
void gemm_legacy(const PackedGemm& a) {
  constexpr int kTokens = kLegacyTokens<kVnni, kType>;
  static_assert(kActChunk % kTokens == 0, "a pass must not straddle an activation chunk");
  const int64_t nb = a.w->cols / 32;
  float* y[kTokens];
  for (int64_t g = a.group_begin; g < a.group_end; ++g) {
    const std::byte* gw = a.w->group(g);
    const int64_t row0 = g * kPackRows;
    const int valid = static_cast<int>(a.w->rows - row0 < kPackRows ? a.w->rows - row0 : kPackRows);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokens) {
      const int n = static_cast<int>(a.n_tokens - t0 < kTokens ? a.n_tokens - t0 : kTokens);
      const auto* x = static_cast<const ActOf<kType>*>(a.x) + t0 / kActChunk * nb * kActChunk + t0 % kActChunk;
      for (int t = 0; t < n; ++t) y[t] = a.y + (t0 + t) * a.y_stride + row0;
      for_each_constant<kTokens>([&]<int I>() {
        if (n == I + 1) legacy_tokens<kVnni, kType, I + 1>(gw, nb, x, y, valid);
      });
    }
  }
}

// ---- Q4_K -------------------------------------------------------------------------------

// Sub-block sums of one int32 lane per row, times the lane's scale, added to isum:
// VNNI: s holds int32 sums (vpmulld); plain: s holds int16 pair sums, and vpmaddwd with
// the scale in both int16 halves multiplies and adds the pair.
template <bool kVnni>
[[gnu::always_inline]] inline __m256i add_scaled(__m256i isum, __m256i s, __m256i scale) {
  if constexpr (kVnni) return add32_in_order(isum, _mm256_mullo_epi32(s, scale));
  else return add32_in_order(isum, _mm256_madd_epi16(s, pair16(scale, scale)));
}

// u8 x s8 products of each 4-byte group added to s: int32 sums (VNNI) or int16 pair
// sums (plain; the caller bounds how many it adds).
template <bool kVnni>
[[gnu::always_inline]] inline __m256i add_products(__m256i s, __m256i u, __m256i x) {
  if constexpr (kVnni) return dpbusd<kVnni>(s, u, x);
  else return add16_in_order(s, _mm256_maddubs_epi16(u, x));
}

// The products of chunk u with x: the first of a sum (plain: no add to a zero).
template <bool kVnni>
[[gnu::always_inline]] inline __m256i first_products(__m256i u, __m256i x) {
  if constexpr (kVnni) return dpbusd<kVnni>(_mm256_setzero_si256(), u, x);
  else return _mm256_maddubs_epi16(u, x);
}

// Bit J of every byte of qh moved to bit 4 (other bits: garbage, masked by the caller).
// The 16-bit shifts move bits across the bytes of a word only into bits 0-3 (left
// shifts by at most 4) or 5-7 (right shifts by at most 3), never into bit 4.
template <int J>
[[gnu::always_inline]] inline __m256i q5_k_bit_to_4(__m256i qh) {
  if constexpr (J < 4) return _mm256_slli_epi16(qh, 4 - J);
  else if constexpr (J == 4) return qh;
  else return _mm256_srli_epi16(qh, J - 4);
}

// kQ5: Q5_K (the nibbles with qh's bits at bit 4, values 0..31); else Q4_K.
template <bool kVnni, bool kQ5, int T>
[[gnu::noinline]] void q4_k_tokens(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x,
                                   float* const* y, int valid_rows) {
  constexpr size_t kColumnBytes = kQ5 ? L5::kBytes : L4::kBytes;
  constexpr int kLinesPerPass = kQ5 ? 12 : 10;  // 4 passes prefetch the 37 / 45 lines
  // One token on VNNI: two vpdpbusd chains per sub-block (even and odd i: latency).
  constexpr int kChains = kVnni && T == 1 ? 2 : 1;
  // Plain: chunks per int16 sum (Q4_K 8 products-of-pairs <= 30720, Q5_K 4 <= 31744).
  constexpr int kPerSum = kVnni ? 8 : kQ5 ? 4 : 8;
  __m256 acc[T][2];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * kColumnBytes;
    for_each_constant<2>([&]<int H>() {
      __m256i isum[T];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
      const int8_t* xq[T];  // token t's activations of block b
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) xq[t] = opaque(x[t][b].qs);
      // Chunks 8c .. 8c+7: sub-block 2c (elements 64c ..) in the low nibbles, 2c+1
      // (elements 64c + 32 ..) in the high nibbles; Q5_K's 5th bits are bits 2c and
      // 2c+1 of qh chunk i.
      for_each_constant<4>([&]<int C>() {
        if constexpr (H == 0) prefetch_ahead<kColumnBytes, kLinesPerPass * C, kLinesPerPass>(p);
        __m256i s[T][2][kChains];
        const __m256i scale_lo = lanes_u8(p + L4::kScales + kPackRows * (2 * C) + 8 * H);
        const __m256i scale_hi = lanes_u8(p + L4::kScales + kPackRows * (2 * C + 1) + 8 * H);
        #pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) {
          const __m256i raw = load256(p + L4::kQs + 64 * (8 * C + i) + 32 * H);
          __m256i lo = _mm256_and_si256(raw, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
          if constexpr (kQ5) {
            const __m256i qh = load256(p + L5::kQh + 64 * i + 32 * H);
            lo = _mm256_or_si256(lo, _mm256_and_si256(q5_k_bit_to_4<2 * C>(qh), bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(q5_k_bit_to_4<2 * C + 1>(qh), bit4));
          }
          const int c = i % kChains;
          const bool first = kVnni ? i < kChains : i % kPerSum == 0;
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            const __m256i xl = bcast4(xq[t] + 64 * C + 4 * i), xh = bcast4(xq[t] + 64 * C + 32 + 4 * i);
            s[t][0][c] = first ? first_products<kVnni>(lo, xl) : add_products<kVnni>(s[t][0][c], lo, xl);
            s[t][1][c] = first ? first_products<kVnni>(hi, xh) : add_products<kVnni>(s[t][1][c], hi, xh);
          }
          if (!kVnni && i % kPerSum == kPerSum - 1) {
            #pragma GCC unroll 8
            for (int t = 0; t < T; ++t)
              isum[t] = add_scaled<kVnni>(add_scaled<kVnni>(isum[t], s[t][0][0], scale_lo), s[t][1][0], scale_hi);
          }
        }
        if constexpr (kVnni) {
          #pragma GCC unroll 8
          for (int t = 0; t < T; ++t) {
            if constexpr (kChains == 2 && !kQ5) {
              // Each Q4_K chain <= 4 * 4 * 15 * 128 = 30720: the pair goes on as the int16
              // halves of a lane into one vpdpwssd with the scale in both halves.
              isum[t] = dpwssd<kVnni>(isum[t], pair16(s[t][0][0], s[t][0][1]), pair16(scale_lo, scale_lo));
              isum[t] = dpwssd<kVnni>(isum[t], pair16(s[t][1][0], s[t][1][1]), pair16(scale_hi, scale_hi));
            } else {
              const __m256i sl = kChains == 2 ? _mm256_add_epi32(s[t][0][0], s[t][0][kChains - 1]) : s[t][0][0];
              const __m256i sh = kChains == 2 ? _mm256_add_epi32(s[t][1][0], s[t][1][kChains - 1]) : s[t][1][0];
              isum[t] = add_scaled<kVnni>(add_scaled<kVnni>(isum[t], sl, scale_lo), sh, scale_hi);
            }
          }
        }
      });
      // Each min in both int16 halves of its lane: with the dword (bsums[2j],
      // bsums[2j+1]) the pair product is min_j * (bsums[2j] + bsums[2j+1]).
      __m256i mins[8];
      #pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m256i m = lanes_u8(p + L4::kMins + kPackRows * j + 8 * H);
        mins[j] = pair16(m, m);
      }
      const __m256 dw = lanes_f16(p + L4::kD + 16 * H);
      const __m256 dminw = lanes_f16(p + L4::kDmin + 16 * H);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& xb = x[t][b];
        __m256i summ = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) summ = dpwssd<kVnni>(summ, mins[j], bcast4(xb.bsums + 2 * j));
        const __m256 xd = _mm256_set1_ps(xb.d);
        const __m256 d = _mm256_mul_ps(dw, xd);
        const __m256 dmin = _mm256_mul_ps(dminw, xd);
        const __m256 term = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])),
                                          _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(summ)));
        acc[t][H] = _mm256_add_ps(acc[t][H], term);
      }
    });
  }
  store_rows<T>(acc, y, valid_rows);
}

// ---- Q6_K -------------------------------------------------------------------------------

// Element k-group K (0..3) of a quad's half (quad: its ql chunk 0 at +0, ql chunk 1 at
// +64, qh at +128) as unsigned 6-bit bytes: low nibbles of the first (K = 0) or second
// (K = 1) ql chunk, high nibbles (K = 2, 3), with qh bits 2K, 2K+1 as bits 4-5. The
// 16-bit shifts only matter where the mask keeps bits that came from the same byte.
template <int K>
[[gnu::always_inline]] inline __m256i q6_k_values(const std::byte* quad, __m256i low4, __m256i bits45) {
  const __m256i ql = load256(quad + 64 * (K % 2));
  const __m256i qh = load256(quad + 128);
  const __m256i nib = K < 2 ? _mm256_and_si256(ql, low4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
  __m256i high;  // qh bits 2K, 2K+1 at bits 4-5
  if constexpr (K == 0) high = _mm256_slli_epi16(qh, 4);
  if constexpr (K == 1) high = _mm256_slli_epi16(qh, 2);
  if constexpr (K == 2) high = qh;
  if constexpr (K == 3) high = _mm256_srli_epi16(qh, 2);
  return _mm256_or_si256(nib, _mm256_and_si256(high, bits45));
}

template <bool kVnni, int T>
[[gnu::noinline]] void q6_k_tokens(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x,
                                   float* const* y, int valid_rows) {
  __m256 acc[T][2];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * L6::kBytes;
    for_each_constant<2>([&]<int H>() {
      __m256i isum[T];
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
      const int8_t* xq[T];  // token t's activations of block b
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) xq[t] = opaque(x[t][b].qs);
      // Sub-block S = 8h + 2K + u (elements 16S ..): k-group K of quads 8h + 4u .. +3.
      for_each_constant<16>([&]<int S>() {
        constexpr int kH = S / 8, kK = S % 8 / 2, kU = S % 2;
        if constexpr (H == 0) prefetch_ahead<L6::kBytes, 4 * S, 4>(p);  // 53 lines
        // The four sub-blocks of a quad each load it again (from L1): with the loads
        // merged, GCC kept them all live and spilled.
        const std::byte* quads = opaque(p + L6::kQuads + 3 * 64 * (8 * kH + 4 * kU) + 32 * H);
        __m256i w[4];
        #pragma GCC unroll 4
        for (int m = 0; m < 4; ++m) w[m] = q6_k_values<kK>(quads + 3 * 64 * m, low4, bits45);
        const __m256i scale = lanes_i8(p + L6::kScales + kPackRows * S + 8 * H);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          const int8_t* xs = xq[t] + 16 * S;
          if constexpr (kVnni) {
            __m256i s = _mm256_set1_epi32(-32 * x[t][b].bsums[S]);
            #pragma GCC unroll 4
            for (int m = 0; m < 4; ++m) s = dpbusd<kVnni>(s, w[m], bcast4(xs + 4 * m));
            isum[t] = add_scaled<kVnni>(isum[t], s, scale);
          } else {  // two products-of-pairs per int16 (<= 32256), then times the scale
            const __m256i p01 = add16_in_order(_mm256_maddubs_epi16(w[0], bcast4(xs)),
                                               _mm256_maddubs_epi16(w[1], bcast4(xs + 4)));
            const __m256i p23 = add16_in_order(_mm256_maddubs_epi16(w[2], bcast4(xs + 8)),
                                               _mm256_maddubs_epi16(w[3], bcast4(xs + 12)));
            isum[t] = add_scaled<kVnni>(add_scaled<kVnni>(isum[t], p01, scale), p23, scale);
          }
        }
      });
      if constexpr (!kVnni) {
        // The -32 offset: isum -= 32 * sum_s scale_s * bsums[s], scales in pairs
        // (scales[2k], scales[2k+1]) against the dword (bsums[2k], bsums[2k+1]).
        __m256i pairs[8];
        #pragma GCC unroll 8
        for (int k = 0; k < 8; ++k)
          pairs[k] = pair16(lanes_i8(p + L6::kScales + kPackRows * (2 * k) + 8 * H),
                            lanes_i8(p + L6::kScales + kPackRows * (2 * k + 1) + 8 * H));
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          __m256i off = _mm256_setzero_si256();
          #pragma GCC unroll 8
          for (int k = 0; k < 8; ++k)
            off = _mm256_add_epi32(off, _mm256_madd_epi16(pairs[k], bcast4(x[t][b].bsums + 2 * k)));
          isum[t] = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(off, 5));
        }
      }
      const __m256 dw = lanes_f16(p + L6::kD + 16 * H);
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(x[t][b].d));
        acc[t][H] = _mm256_add_ps(acc[t][H], _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])));
      }
    });
  }
  store_rows<T>(acc, y, valid_rows);
}

// Runs run.template operator()<T>(gw, nb, x, y, valid_rows) for each group of
// [group_begin, group_end) and each pass of T <= kTokens tokens over it (Q8_K rows).
template <int kTokens, typename Run>
[[gnu::always_inline]] inline void kquant_passes(const PackedGemm& a, Run&& run) {
  const int64_t nb = a.w->cols / kQK_K;
  const BlockQ8_K* x[kTokens];
  float* y[kTokens];
  for (int64_t g = a.group_begin; g < a.group_end; ++g) {
    const std::byte* gw = a.w->group(g);
    const int64_t row0 = g * kPackRows;
    const int valid = static_cast<int>(a.w->rows - row0 < kPackRows ? a.w->rows - row0 : kPackRows);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kTokens) {
      const int n = static_cast<int>(a.n_tokens - t0 < kTokens ? a.n_tokens - t0 : kTokens);
      for (int t = 0; t < n; ++t) {
        x[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a.x) + (t0 + t) * a.x_stride);
        y[t] = a.y + (t0 + t) * a.y_stride + row0;
      }
      for_each_constant<kTokens>([&]<int I>() {
        if (n == I + 1) run.template operator()<I + 1>(gw, nb, x, y, valid);
      });
    }
  }
}

enum class KQuant { kQ4_K, kQ5_K, kQ6_K };

template <bool kVnni, KQuant kType>
void gemm_kquant(const PackedGemm& a) {
  kquant_passes<kKquantTokens>(a, []<int T>(const std::byte* gw, int64_t nb, const BlockQ8_K* const* x,
                                            float* const* y, int valid) {
    if constexpr (kType == KQuant::kQ6_K) q6_k_tokens<kVnni, T>(gw, nb, x, y, valid);
    else q4_k_tokens<kVnni, kType == KQuant::kQ5_K, T>(gw, nb, x, y, valid);
  });
}

}  // namespace
}  // namespace tandem::cpu
