// Dequantizers for the K-quant super-blocks of 256 weights (Q2_K, Q3_K, Q4_K, Q5_K,
// Q6_K), in the functor form of dequant_common.h: kSubs = 8, and piece s is elements
// 32s .. 32s+31 of the super-block, so one GEMV lane decodes one piece and a row of
// 4096 weights keeps all 32 lanes of a warp busy (16 super-blocks = 128 pieces).
// Element order, scale unpacking and arithmetic follow cpu/quant_k_ref.cpp; for piece s
// and l = 0..31 (element e = 32s + l):
// - Q4_K/Q5_K: qs[32 (s/2) + l], low nibble for even s, high for odd; 6-bit scale and
//   min of sub-block s (k4_scale_min); Q5_K adds 16 when bit s of qh[l] is set.
//   x = (d * scale) * q - (dmin * min).
// - Q6_K: half h = s/4, quarter t = s%4: low 4 bits from ql[64h + 32(t&1) + l] (low
//   nibble for t < 2, high for t >= 2), high 2 bits = bits 2t, 2t+1 of qh[32h + l];
//   scale scales[e/16] (int8). x = (d * scale) * (q - 32).
// - Q2_K/Q3_K: bits 2t, 2t+1 of qs[32h + l] (h = s/4, t = s%4); sub-block of 16 e/16.
//   Q2_K: scale = low nibble, min = high nibble of scales[e/16]; x = (d * scale) * q - (dmin * min).
//   Q3_K: q -= 4 unless bit s of hmask[l] is set; 6-bit scale - 32 (q3k_scale);
//   x = (d * scale) * q.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"
#include "gpu/cuda/dequant_common.h"

namespace tandem::gpu {

// Alignments the loads below rely on (blocks from a 16-byte-aligned base; dequant_common.h).
static_assert(sizeof(BlockQ4_K) % 16 == 0 && offsetof(BlockQ4_K, qs) % 16 == 0);
static_assert(sizeof(BlockQ5_K) % 16 == 0 && offsetof(BlockQ5_K, qs) % 16 == 0 && offsetof(BlockQ5_K, qh) % 16 == 0);
static_assert(sizeof(BlockQ6_K) % 2 == 0 && offsetof(BlockQ6_K, ql) % 2 == 0 && offsetof(BlockQ6_K, qh) % 2 == 0);
static_assert(sizeof(BlockQ2_K) % 4 == 0 && offsetof(BlockQ2_K, qs) % 4 == 0);
static_assert(sizeof(BlockQ3_K) % 2 == 0 && offsetof(BlockQ3_K, qs) % 2 == 0 && offsetof(BlockQ3_K, hmask) % 2 == 0);

namespace dequant {

struct ScaleMin {
  int scale;
  int min;
};

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, from the 12
// packed bytes: j < 4: scale = s[j] & 63, min = s[j+4] & 63; j >= 4: low 4 bits from
// s[j+4] (scale: low nibble, min: high nibble), high 2 bits from the top 2 bits of
// s[j-4] (scale) and s[j] (min).
TANDEM_HD ScaleMin k4_scale_min(int j, const uint8_t* s) {
  if (j < 4) return {s[j] & 63, s[j + 4] & 63};
  return {(s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)};
}

// The scale (-32..31) of sub-block t (0..15) of a Q3_K block: low 4 bits from the low
// (t < 8) or high (t >= 8) nibble of sc[t % 8], high 2 bits from bits 2 (t/4), 2 (t/4)+1
// of sc[8 + t % 4]; stored + 32.
TANDEM_HD int q3k_scale(int t, const uint8_t* sc) {
  const int low = t < 8 ? (sc[t] & 0x0f) : (sc[t - 8] >> 4);
  const int high = (sc[8 + t % 4] >> (2 * (t / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Q4_K and Q5_K: the 4 low bits of piece s, plus (Q5_K) the 5th bit from qh.
template <bool kHasHigh>
TANDEM_HD void k45_piece(const uint8_t* qs, const uint8_t* qh, uint16_t d_bits, uint16_t dmin_bits,
                         const uint8_t* scales, int s, float (&v)[32]) {
  const ScaleMin sm = k4_scale_min(s, scales);
  const float ds = fmul(half_to_f32(d_bits), static_cast<float>(sm.scale));
  const float dm = fmul(half_to_f32(dmin_bits), static_cast<float>(sm.min));
  uint32_t q[8];
  load_words<16>(qs + 32 * (s / 2), q);
  const int shift = 4 * (s & 1);
  uint32_t h[8] = {};
  if constexpr (kHasHigh) load_words<16>(qh, h);
  TANDEM_UNROLL
  for (int i = 0; i < 8; ++i) {
    TANDEM_UNROLL
    for (int k = 0; k < 4; ++k) {
      uint32_t value = (byte_of(q[i], k) >> shift) & 0x0f;
      if constexpr (kHasHigh) value += ((byte_of(h[i], k) >> s) & 1u) << 4;
      v[4 * i + k] = fmul(ds, static_cast<float>(value)) - dm;
    }
  }
}

}  // namespace dequant

struct DequantQ4_K {
  using Block = BlockQ4_K;
  static constexpr int kSubs = 8;
  TANDEM_HD void operator()(const Block& b, int s, float (&v)[32]) const {
    dequant::k45_piece<false>(b.qs, nullptr, b.d, b.dmin, b.scales, s, v);
  }
};

struct DequantQ5_K {
  using Block = BlockQ5_K;
  static constexpr int kSubs = 8;
  TANDEM_HD void operator()(const Block& b, int s, float (&v)[32]) const {
    dequant::k45_piece<true>(b.qs, b.qh, b.d, b.dmin, b.scales, s, v);
  }
};

struct DequantQ6_K {
  using Block = BlockQ6_K;
  static constexpr int kSubs = 8;
  TANDEM_HD void operator()(const Block& b, int s, float (&v)[32]) const {
    const int half = s / 4, quarter = s % 4;
    const float d = dequant::half_to_f32(b.d);
    const float ds0 = dequant::fmul(d, static_cast<float>(b.scales[2 * s]));      // elements l < 16
    const float ds1 = dequant::fmul(d, static_cast<float>(b.scales[2 * s + 1]));  // l >= 16
    uint32_t lo[8], hi[8];
    dequant::load_words<2>(b.ql + 64 * half + 32 * (quarter & 1), lo);
    dequant::load_words<2>(b.qh + 32 * half, hi);
    const int lo_shift = 4 * (quarter / 2), hi_shift = 2 * quarter;
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const int low = static_cast<int>((dequant::byte_of(lo[i], k) >> lo_shift) & 0x0f);
        const int high = static_cast<int>((dequant::byte_of(hi[i], k) >> hi_shift) & 3);
        const int q = (low | (high << 4)) - 32;
        v[4 * i + k] = dequant::fmul(i < 4 ? ds0 : ds1, static_cast<float>(q));
      }
    }
  }
};

struct DequantQ2_K {
  using Block = BlockQ2_K;
  static constexpr int kSubs = 8;
  TANDEM_HD void operator()(const Block& b, int s, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    const float dmin = dequant::half_to_f32(b.dmin);
    float ds[2], dm[2];  // sub-blocks of 16: 2s (l < 16) and 2s + 1
    TANDEM_UNROLL
    for (int u = 0; u < 2; ++u) {
      const int sc = b.scales[2 * s + u];
      ds[u] = dequant::fmul(d, static_cast<float>(sc & 0x0f));
      dm[u] = dequant::fmul(dmin, static_cast<float>(sc >> 4));
    }
    uint32_t q[8];
    dequant::load_words<4>(b.qs + 32 * (s / 4), q);
    const int shift = 2 * (s % 4);
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const uint32_t value = (dequant::byte_of(q[i], k) >> shift) & 3;
        v[4 * i + k] = dequant::fmul(ds[i / 4], static_cast<float>(value)) - dm[i / 4];
      }
    }
  }
};

struct DequantQ3_K {
  using Block = BlockQ3_K;
  static constexpr int kSubs = 8;
  TANDEM_HD void operator()(const Block& b, int s, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    const float ds0 = dequant::fmul(d, static_cast<float>(dequant::q3k_scale(2 * s, b.scales)));      // l < 16
    const float ds1 = dequant::fmul(d, static_cast<float>(dequant::q3k_scale(2 * s + 1, b.scales)));  // l >= 16
    uint32_t q[8], hm[8];
    dequant::load_words<2>(b.qs + 32 * (s / 4), q);
    dequant::load_words<2>(b.hmask, hm);
    const int shift = 2 * (s % 4);
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const int low = static_cast<int>((dequant::byte_of(q[i], k) >> shift) & 3);
        const int value = low - (((dequant::byte_of(hm[i], k) >> s) & 1u) ? 0 : 4);
        v[4 * i + k] = dequant::fmul(i < 4 ? ds0 : ds1, static_cast<float>(value));
      }
    }
  }
};

}  // namespace tandem::gpu
