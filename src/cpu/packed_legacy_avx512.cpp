// AVX-512 VNNI kernels for packed Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights (layouts:
// packed_kernels.h). Built with the AVX-512 F/BW/VL/DQ/VNNI flags and -ffp-contract=off
// only.
//
// Lane r of every vector is row r of the 16-row group, so a block column costs, per
// token: vpdpbusd over 4-byte chunks (Q4_0/Q4_1: 8, two per 64-byte load after
// splitting nibbles; Q5_0/Q5_1: the same with the 5th bits or-ed in at bit 4; Q8_0: 8),
// each with that chunk's 4 activation bytes broadcast; then the block's term in f32.
// The unsigned weights' offset (Q4_0: 8, Q5_0: 16, Q8_0: the stored + 128; Q4_1/Q5_1
// have none) comes out through the lane's starting value, -offset * sum(x block), so
// the int32 sum is the reference's exactly. The f32 term is (d_w * d_x) * isum, and for
// Q4_1/Q5_1 plus m_w * s_x (ActBlockQ8_1), added to the running sum in block order
// without FMA: the reference's operations, so results are bit-identical to
// vec_dot_ref. Up to kMaxTokens tokens share each unpacked weight chunk (prefill); one
// token runs two independent vpdpbusd chains per block.
//
// Everything here has internal linkage except the entry points.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "cpu/packed_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kMaxTokens = kActChunk;

[[gnu::always_inline]] inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

enum class Legacy { kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ8_0 };

// Types with a min (d[16], m[16] before the chunks; ActBlockQ8_1 activations).
constexpr bool has_min(Legacy t) { return t == Legacy::kQ4_1 || t == Legacy::kQ5_1; }
template <Legacy kType>
using ActOf = std::conditional_t<has_min(kType), ActBlockQ8_1, ActBlock32>;

// Q4_0: 4 chunks of nibble pairs, offset 8; Q5_0: the same and a chunk of 5th bits,
// offset 16; Q4_1, Q5_1: as Q4_0, Q5_0 after d and m, no offset; Q8_0: 8 chunks,
// offset 128.
template <Legacy kType, int T>
[[gnu::always_inline]] inline void group_tokens(const std::byte* gw, int64_t nb,
                                                const ActOf<kType>* xc, float* const* y,
                                                int valid_rows) {
  constexpr bool kQ4 = kType != Legacy::kQ8_0;  // nibble chunks
  constexpr bool kQ5 = kType == Legacy::kQ5_0 || kType == Legacy::kQ5_1;
  constexpr bool kMin = has_min(kType);
  constexpr size_t kHeader = kMin ? 4 * 16 : 2 * 16;  // d[16] (and m[16]) f16
  constexpr size_t kBlockBytes = kHeader + (kQ5 ? 16 * 16 + 64 : kQ4 ? 16 * 16 : 16 * 32);
  constexpr int kOffset = kType == Legacy::kQ4_0 ? 8 : kType == Legacy::kQ5_0 ? 16 : kMin ? 0 : 128;
  constexpr size_t kPrefetchBlocks = 8192 / kBlockBytes + 1;
  // Lines a block column can touch: one more where columns are not 64-byte multiples.
  constexpr size_t kPrefetchSpan = kBlockBytes % 64 == 0 ? kBlockBytes : kBlockBytes + 63;
  // Q4_0/Q4_1 keep the high nibbles in place (values 16 * q, no shift per chunk) in a
  // chain of their own, divided by 16 once per block (an exact shift: every term is a
  // multiple of 16; |sum| <= 16 * 240 * 128 fits). Others: two chains for one token.
  constexpr bool kHiInPlace = kQ4 && !kQ5;
  constexpr int kChains = T == 1 || kHiInPlace ? 2 : 1;
  __m512 acc[T];
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  for (int64_t b = 0; b < nb; ++b) {
    const std::byte* p = gw + static_cast<size_t>(b) * kBlockBytes;
    // The block column about 8 KiB ahead into L1 while b is computed. Each 64-byte
    // line costs ~10 instructions here, so the out-of-order window alone keeps too
    // few lines in flight to cover DRAM latency (one thread read ~22 GB/s of Q4_0
    // without this, 24 at 4 KiB ahead, 32-34 at 8 KiB, against 33-36 GB/s for a plain
    // read loop). Past the end of the group these are only hints.
    #pragma GCC unroll 9
    for (size_t off = 0; off < kPrefetchSpan; off += 64)
      _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBlocks * kBlockBytes + off, _MM_HINT_T0);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    const auto* q = reinterpret_cast<const __m512i*>(p + kHeader);
    const ActOf<kType>* x = xc + b * kActChunk;  // x[t]: token t's block b
    __m512i isum[T][kChains];
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      if constexpr (kMin) isum[t][0] = _mm512_setzero_si512();
      else isum[t][0] = _mm512_set1_epi32(-kOffset * x[t].sum);
      if constexpr (kChains == 2) isum[t][kChains - 1] = _mm512_setzero_si512();
    }
    if constexpr (kQ4) {
      #pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        __m512i raw = _mm512_loadu_si512(q + j);
        // One load per chunk: GCC otherwise folds the load into each use (and, shift),
        // and the duplicate 64-byte loads, not the vector ALUs, bound this loop on
        // Zen 5 (GemvHot Q4_0 59 -> 78 GB/s, Q5_0 52 -> 62 with this and the above).
        asm("" : "+v"(raw));
        __m512i lo = _mm512_and_si512(raw, low4);
        __m512i hi = kHiInPlace ? _mm512_andnot_si512(low4, raw) : _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
        if constexpr (kQ5) {
          // 5th bits: bit j of each byte -> bit 4 (low elements), bit 4+j (high). The
          // 16-bit shifts (left by 1..4, right by 0..3) never carry a bit of the other
          // byte into bit 4.
          const __m512i h = _mm512_loadu_si512(q + 4);
          lo = _mm512_ternarylogic_epi32(lo, _mm512_slli_epi16(h, 4 - j), bit4, 0xf8);  // lo | (x & bit4)
          hi = _mm512_ternarylogic_epi32(hi, _mm512_srli_epi16(h, j), bit4, 0xf8);
        }
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          isum[t][0] = _mm512_dpbusd_epi32(isum[t][0], lo, bcast4(x[t].qs + 4 * j));
          isum[t][kChains - 1] = _mm512_dpbusd_epi32(isum[t][kChains - 1], hi, bcast4(x[t].qs + 16 + 4 * j));
        }
      }
    } else {
      #pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m512i u = _mm512_loadu_si512(q + j);
        #pragma GCC unroll 8
        for (int t = 0; t < T; ++t) {
          __m512i& s = isum[t][j % kChains];
          s = _mm512_dpbusd_epi32(s, u, bcast4(x[t].qs + 4 * j));
        }
      }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      __m512i s = isum[t][0];
      if constexpr (kHiInPlace) s = _mm512_add_epi32(s, _mm512_srai_epi32(isum[t][1], 4));
      else if constexpr (kChains == 2) s = _mm512_add_epi32(s, isum[t][1]);
      const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].d));
      __m512 term = _mm512_mul_ps(_mm512_cvtepi32_ps(s), dd);
      if constexpr (kMin) {  // + m_w * s_x, the reference's second product
        const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
        term = _mm512_add_ps(term, _mm512_mul_ps(mw, _mm512_set1_ps(x[t].s)));
      }
      acc[t] = _mm512_add_ps(acc[t], term);
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << valid_rows) - 1);
  #pragma GCC unroll 8
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y[t], m, acc[t]);
}

template <Legacy kType>
void gemm_legacy(const PackedGemm& a) {
  const int64_t nb = a.w->cols / 32;
  float* y[kMaxTokens];
  for (int64_t g = a.group_begin; g < a.group_end; ++g) {
    const std::byte* gw = a.w->group(g);
    const int64_t row0 = g * kPackRows;
    const int valid = static_cast<int>(a.w->rows - row0 < kPackRows ? a.w->rows - row0 : kPackRows);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kMaxTokens) {
      const int n = static_cast<int>(a.n_tokens - t0 < kMaxTokens ? a.n_tokens - t0 : kMaxTokens);
      const auto* x = static_cast<const ActOf<kType>*>(a.x) + t0 / kActChunk * nb * kActChunk;
      for (int t = 0; t < n; ++t) y[t] = a.y + (t0 + t) * a.y_stride + row0;
      switch (n) {
        case 1: group_tokens<kType, 1>(gw, nb, x, y, valid); break;
        case 2: group_tokens<kType, 2>(gw, nb, x, y, valid); break;
        case 3: group_tokens<kType, 3>(gw, nb, x, y, valid); break;
        case 4: group_tokens<kType, 4>(gw, nb, x, y, valid); break;
        case 5: group_tokens<kType, 5>(gw, nb, x, y, valid); break;
        case 6: group_tokens<kType, 6>(gw, nb, x, y, valid); break;
        case 7: group_tokens<kType, 7>(gw, nb, x, y, valid); break;
        default: group_tokens<kType, 8>(gw, nb, x, y, valid); break;
      }
    }
  }
}

}  // namespace

namespace {

// f rounded to f16 by vcvtps2ph (round to nearest even, as f32_to_fp16), then widened.
[[gnu::always_inline]] inline float round_f16(float f) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
}

// Per block: amax, d = amax / 127, id = 1 / d (0 for an all-zero block), d rounded to
// f16, q = x * id rounded half away from zero (std::round): truncate, then step away
// from zero where the dropped fraction is at least one half. ActBlock32 adds the sum of
// q; ActBlockQ8_1 s = float(sum) * d (d before rounding) rounded to f16. All steps are
// exact IEEE operations, so the blocks equal quantize_row_ref(kQ8_0)'s / (kQ8_1)'s.
template <typename Block>
void quantize_blocks32(const float* x, Block* dst, int64_t nb, int64_t dst_step) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t b = 0; b < nb; ++b, x += 32) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    Block& o = dst[b * dst_step];
    o.d = round_f16(d);
    const __m512 vid = _mm512_set1_ps(id);
    __m512i q[2];
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512 p = _mm512_mul_ps(h == 0 ? v0 : v1, vid);
      const __m512 t = _mm512_roundscale_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __mmask16 up = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(p, t), abs_mask), half, _CMP_GE_OQ);
      const __m512 away = _mm512_or_ps(one, _mm512_andnot_ps(abs_mask, p));  // +-1 with p's sign
      q[h] = _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, away));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs), _mm512_cvtepi32_epi8(q[0]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16), _mm512_cvtepi32_epi8(q[1]));
    const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
    if constexpr (std::is_same_v<Block, ActBlockQ8_1>) o.s = round_f16(static_cast<float>(sum) * d);
    else o.sum = sum;
  }
}

}  // namespace

void quantize_act32_avx512(const float* x, ActBlock32* dst, int64_t nb, int64_t dst_step) {
  quantize_blocks32(x, dst, nb, dst_step);
}
void quantize_act32_q8_1_avx512(const float* x, ActBlockQ8_1* dst, int64_t nb, int64_t dst_step) {
  quantize_blocks32(x, dst, nb, dst_step);
}

void gemm_q4_0x16_avx512vnni(const PackedGemm& a) { gemm_legacy<Legacy::kQ4_0>(a); }
void gemm_q4_1x16_avx512vnni(const PackedGemm& a) { gemm_legacy<Legacy::kQ4_1>(a); }
void gemm_q5_0x16_avx512vnni(const PackedGemm& a) { gemm_legacy<Legacy::kQ5_0>(a); }
void gemm_q5_1x16_avx512vnni(const PackedGemm& a) { gemm_legacy<Legacy::kQ5_1>(a); }
void gemm_q8_0x16_avx512vnni(const PackedGemm& a) { gemm_legacy<Legacy::kQ8_0>(a); }

}  // namespace tandem::cpu
