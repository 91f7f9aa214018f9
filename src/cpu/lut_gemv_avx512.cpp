// The LUT GEMV kernel for bit-plane Q4_0 (layouts and the arithmetic: lut_gemv.h).
// Built with the AVX-512 F/BW/VL/DQ flags plus VNNI and VBMI, and -ffp-contract=off.
//
// Per 16-row group and block column, with lane r = row r:
//   4 loads of 64 index bytes (chunk j: groups 2j, 2j+1 in the low, high nibbles),
//   16 vpermb (TL and TH of 8 groups), 8 byte adds (two groups' lookups per byte sum),
//   8 vpdpbusd (planes weighed by 1,2,4,8 (TL) and 16,32,64,128 (TH) into the int32
//   lane), then (d_w * d_x) * isum added to the lane's f32 sum in block order.
// kGroupsPerPass groups share each block's 16 tables (broadcast once per block).
// Each group's stream is prefetched kPrefetchBlocks block columns ahead: from DRAM
// (14336x4096, same process, interleaved) the LUT/packed-VNNI rate ratio went from
// 0.88 to ~1.05 at 1 thread and 0.81 to ~0.93 at 2 threads (4 and 16 blocks: no better).
// (Summing four groups' lookups per byte before vpdpbusd, 12 adds and 4 vpdpbusd, and
// one vpdpbusd per lookup, 16, both measured slower.)
//
// Everything here has internal linkage except the entry point (see gemv_kernels.h).
#include <immintrin.h>

#include <array>

#include "core/quant_blocks.h"
#include "cpu/lut_gemv.h"
#include "cpu/packed_kernels.h"  // quantize_act32_avx512: floats -> Q8_0 values

namespace tandem::cpu {
namespace {

// Measured on Zen 5 (hot L2, 256x4096): 4 groups per pass beat 2, 3, 6 and 8.
constexpr int kGroupsPerPass = 4;
constexpr int64_t kPrefetchBlocks = 8;  // 2.3 KiB ahead per group stream, ~9 KiB for 4

// One 16-entry table in all four 128-bit lanes: vpermb then ignores index bits 4..5.
[[gnu::always_inline]] inline __m512i table(const uint8_t* t) {
  return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

[[gnu::always_inline]] inline __m512i lookup(__m512i tab, __m512i idx) {
  return _mm512_permutexvar_epi8(idx, tab);  // byte i = tab[idx[i] & 63]
}

// Blocks [0, nb) of G groups (gw[i]: group i's first block column); the rows' sums go
// to y[i][0 .. 15] where mask[i] has their lanes.
template <int G>
[[gnu::always_inline]] inline void groups_pass(const std::byte* const* gw, int64_t nb, const LutActBlock* act,
                                               float* const* y, const __mmask16* mask) {
  const __m512i wl = _mm512_set1_epi32(0x08040201);                    // planes' weights (s8)
  const __m512i wh = _mm512_set1_epi32(static_cast<int>(0x80402010u));  // 16x those (u8)
  __m512 acc[G];
  #pragma GCC unroll 4
  for (int i = 0; i < G; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const LutActBlock& a = act[b];
    const size_t off = static_cast<size_t>(b) * kLutBlockBytes;
    #pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const char* ahead = reinterpret_cast<const char*>(gw[i]) + off + kPrefetchBlocks * kLutBlockBytes;
      #pragma GCC unroll 5
      for (int l = 0; l < 5; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    }
    __m512i isum[G];
    #pragma GCC unroll 4
    for (int i = 0; i < G; ++i) isum[i] = _mm512_set1_epi32(a.bias);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {  // chunk j: groups 2j (low nibbles), 2j+1 (high)
      const __m512i tla = table(a.tab[j][0]), tha = table(a.tab[j][1]);
      const __m512i tlb = table(a.tab[j][2]), thb = table(a.tab[j][3]);
      #pragma GCC unroll 4
      for (int i = 0; i < G; ++i) {
        const __m512i lo = _mm512_loadu_si512(gw[i] + off + 2 * kLutRows + 64 * j);
        const __m512i hi = _mm512_srli_epi16(lo, 4);
        const __m512i l = _mm512_add_epi8(lookup(tla, lo), lookup(tlb, hi));  // u8, <= 120
        const __m512i h = _mm512_add_epi8(lookup(tha, lo), lookup(thb, hi));  // s8, [-64, 56]
        isum[i] = _mm512_dpbusd_epi32(isum[i], l, wl);
        isum[i] = _mm512_dpbusd_epi32(isum[i], wh, h);
      }
    }
    const __m512 dx = _mm512_set1_ps(a.d);
    #pragma GCC unroll 4
    for (int i = 0; i < G; ++i) {
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gw[i] + off)));
      acc[i] = _mm512_add_ps(acc[i], _mm512_mul_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(isum[i])));
    }
  }
  #pragma GCC unroll 4
  for (int i = 0; i < G; ++i) _mm512_mask_storeu_ps(y[i], mask[i], acc[i]);
}

// ---- activation tables --------------------------------------------------------------
// Chunk j's 64 table bytes are one vpermb-gather from [xl (32 bytes) | xh (32 bytes)]
// per term i < 4: byte p (table L = p / 16, pattern m = p % 16) takes element
// 8j + 4 (L / 2) + i of xl (L even) or xh (L odd) where bit i of m is set, else 0.

// Byte p of the gather for term i of chunk 0 (chunk j adds 8j).
constexpr std::array<uint8_t, 64> gather_index(int i) {
  std::array<uint8_t, 64> idx{};
  for (int p = 0; p < 64; ++p) {
    const int lane = p / 16;
    idx[p] = static_cast<uint8_t>((lane % 2) * 32 + 4 * (lane / 2) + i);
  }
  return idx;
}
alignas(64) constexpr std::array<uint8_t, 64> kGather[4] = {gather_index(0), gather_index(1), gather_index(2),
                                                             gather_index(3)};
// Bytes whose pattern m = p % 16 has bit i set.
constexpr __mmask64 kPatternBit[4] = {0xaaaaaaaaaaaaaaaaull, 0xccccccccccccccccull, 0xf0f0f0f0f0f0f0f0ull,
                                      0xff00ff00ff00ff00ull};

// qs: one Q8_0 block's 32 quants; d: its scale as f32.
void prepare_block(const int8_t* qs, float d, LutActBlock& a) {
  const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i biased = _mm256_xor_si256(q, _mm256_set1_epi8(static_cast<char>(0x80)));  // q + 128
  const __m256i xl = _mm256_and_si256(q, low4);
  // floor(q / 16) = ((q + 128) >> 4) - 8
  const __m256i xh = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(biased, 4), low4), _mm256_set1_epi8(8));
  const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(xl), xh, 1);
  #pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512i step = _mm512_set1_epi8(static_cast<char>(8 * j));
    __m512i t = _mm512_setzero_si512();
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m512i idx = _mm512_add_epi8(_mm512_load_si512(kGather[i].data()), step);
      t = _mm512_add_epi8(t, _mm512_maskz_permutexvar_epi8(kPatternBit[i], idx, both));
    }
    _mm512_store_si512(a.tab[j], t);
  }
  // sum(q) = sum(q + 128) - 32 * 128, the former from vpsadbw's four 8-byte sums.
  const __m256i s4 = _mm256_sad_epu8(biased, _mm256_setzero_si256());
  const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
  const auto sum = static_cast<int32_t>(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
  a.d = d;
  a.bias = -8 * sum;
}

// ---- the GEMV ------------------------------------------------------------------------

// Lanes of group g that hold rows of [row_begin, row_end).
inline __mmask16 row_mask(int64_t g, int64_t row_begin, int64_t row_end) {
  const int64_t r0 = g * kLutRows;
  const int64_t lo = row_begin > r0 ? row_begin - r0 : 0;
  const int64_t hi = row_end - r0 < kLutRows ? row_end - r0 : kLutRows;
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

}  // namespace

void lut_prepare_act_avx512vbmi(const void* x_q8_0, int64_t cols, LutActBlock* act) {
  const auto* x = static_cast<const BlockQ8_0*>(x_q8_0);
  for (int64_t b = 0; b < cols / kQK; ++b) prepare_block(x[b].qs, _cvtsh_ss(x[b].d), act[b]);
}

void lut_quantize_act_avx512vbmi(const float* x, int64_t cols, LutActBlock* act) {
  constexpr int64_t kStep = 8;  // blocks quantized per step, kept in L1
  const int64_t nb = cols / kQK;
  for (int64_t b0 = 0; b0 < nb; b0 += kStep) {
    const int64_t n = nb - b0 < kStep ? nb - b0 : kStep;
    ActBlock32 q[kStep];
    quantize_act32_avx512(x + b0 * kQK, q, n, 1);
    for (int64_t i = 0; i < n; ++i) prepare_block(q[i].qs, q[i].d, act[b0 + i]);
  }
}

void lut_gemv_q4_0_avx512vbmi(const LutMatrix& m, const LutActBlock* act, int64_t row_begin,
                              int64_t row_end, float* y) {
  const int64_t nb = m.cols / 32;
  const int64_t g_end = (row_end + kLutRows - 1) / kLutRows;
  for (int64_t g = row_begin / kLutRows; g < g_end;) {
    const int64_t left = g_end - g;
    const int n = left >= kGroupsPerPass ? kGroupsPerPass : left >= 2 ? 2 : 1;
    const std::byte* gw[kGroupsPerPass];
    float* yg[kGroupsPerPass];
    __mmask16 mask[kGroupsPerPass];
    for (int i = 0; i < n; ++i) {
      gw[i] = m.group(g + i);
      yg[i] = y + (g + i) * kLutRows;
      mask[i] = row_mask(g + i, row_begin, row_end);
    }
    if (n == kGroupsPerPass)
      groups_pass<kGroupsPerPass>(gw, nb, act, yg, mask);
    else if (n == 2)
      groups_pass<2>(gw, nb, act, yg, mask);
    else
      groups_pass<1>(gw, nb, act, yg, mask);
    g += n;
  }
}

}  // namespace tandem::cpu
