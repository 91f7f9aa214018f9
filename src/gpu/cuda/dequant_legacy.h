// Dequantizers for the blocks of 32 weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and for
// f16 / bf16 rows read as blocks of 32, in the functor form of dequant_common.h
// (kSubs = 1: a block is one 32-weight piece). Element order and arithmetic follow
// cpu/quant_legacy_ref.cpp and cpu/quant_float_ref.cpp:
//   byte j of qs holds element j (low nibble) and element j + 16 (high nibble);
//   Q5 types: the 5th bit of element j is bit j of qh read as a little-endian u32;
//   Q4_0: (q - 8) * d   Q4_1: q * d + m   Q5_0: (q - 16) * d   Q5_1: q * d + m   Q8_0: q * d.
// Host and device (see dequant_common.h); no CUDA header is needed on the host.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"
#include "gpu/cuda/dequant_common.h"

namespace tandem::gpu {

// f16 / bf16 weights seen as blocks: 32 consecutive elements of a row.
struct Block32Half {
  uint16_t h[32];
};
static_assert(sizeof(Block32Half) == 64);

// Alignments the loads below rely on (blocks from a 16-byte-aligned base; dequant_common.h).
static_assert(sizeof(BlockQ4_0) % 2 == 0 && offsetof(BlockQ4_0, qs) % 2 == 0);
static_assert(sizeof(BlockQ4_1) % 4 == 0 && offsetof(BlockQ4_1, qs) % 4 == 0);
static_assert(sizeof(BlockQ5_0) % 2 == 0 && offsetof(BlockQ5_0, qh) % 2 == 0 && offsetof(BlockQ5_0, qs) % 2 == 0);
static_assert(sizeof(BlockQ5_1) % 8 == 0 && offsetof(BlockQ5_1, qh) % 4 == 0 && offsetof(BlockQ5_1, qs) % 8 == 0);
static_assert(sizeof(BlockQ8_0) % 2 == 0 && offsetof(BlockQ8_0, qs) % 2 == 0);

struct DequantQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    uint32_t q[4];
    dequant::load_words<2>(b.qs, q);
    TANDEM_UNROLL
    for (int i = 0; i < 4; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const int byte = static_cast<int>(dequant::byte_of(q[i], k));
        v[4 * i + k] = dequant::fmul(static_cast<float>((byte & 0x0f) - 8), d);
        v[4 * i + k + 16] = dequant::fmul(static_cast<float>((byte >> 4) - 8), d);
      }
    }
  }
};

struct DequantQ4_1 {
  using Block = BlockQ4_1;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    const float m = dequant::half_to_f32(b.m);
    uint32_t q[4];
    dequant::load_words<4>(b.qs, q);
    TANDEM_UNROLL
    for (int i = 0; i < 4; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const uint32_t byte = dequant::byte_of(q[i], k);
        v[4 * i + k] = dequant::fmul(static_cast<float>(byte & 0x0f), d) + m;
        v[4 * i + k + 16] = dequant::fmul(static_cast<float>(byte >> 4), d) + m;
      }
    }
  }
};

// The 5-bit values of a Q5 block: out[j] for element j (0..31).
TANDEM_HD void q5_values(const uint32_t (&q)[4], uint32_t qh, int (&out)[32]) {
  TANDEM_UNROLL
  for (int i = 0; i < 4; ++i) {
    TANDEM_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int j = 4 * i + k;
      const uint32_t byte = dequant::byte_of(q[i], k);
      out[j] = static_cast<int>((byte & 0x0f) | (((qh >> j) & 1u) << 4));
      out[j + 16] = static_cast<int>((byte >> 4) | (((qh >> (j + 16)) & 1u) << 4));
    }
  }
}

struct DequantQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    uint32_t qh[1], q[4];
    dequant::load_words<2>(b.qh, qh);
    dequant::load_words<2>(b.qs, q);
    int vals[32];
    q5_values(q, qh[0], vals);
    TANDEM_UNROLL
    for (int j = 0; j < 32; ++j) v[j] = dequant::fmul(static_cast<float>(vals[j] - 16), d);
  }
};

struct DequantQ5_1 {
  using Block = BlockQ5_1;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    const float m = dequant::half_to_f32(b.m);
    uint32_t qh[1], q[4];
    dequant::load_words<4>(b.qh, qh);
    dequant::load_words<8>(b.qs, q);
    int vals[32];
    q5_values(q, qh[0], vals);
    TANDEM_UNROLL
    for (int j = 0; j < 32; ++j) v[j] = dequant::fmul(static_cast<float>(vals[j]), d) + m;
  }
};

struct DequantQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    const float d = dequant::half_to_f32(b.d);
    uint32_t q[8];
    dequant::load_words<2>(reinterpret_cast<const uint8_t*>(b.qs), q);
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) {
      TANDEM_UNROLL
      for (int k = 0; k < 4; ++k) {
        const int value = static_cast<int8_t>(dequant::byte_of(q[i], k));
        v[4 * i + k] = dequant::fmul(static_cast<float>(value), d);
      }
    }
  }
};

struct DequantF16 {
  using Block = Block32Half;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    uint32_t h[16];
    dequant::load_words<16>(reinterpret_cast<const uint8_t*>(b.h), h);
    TANDEM_UNROLL
    for (int i = 0; i < 16; ++i) {
      v[2 * i] = dequant::half_to_f32(static_cast<uint16_t>(h[i] & 0xffffu));
      v[2 * i + 1] = dequant::half_to_f32(static_cast<uint16_t>(h[i] >> 16));
    }
  }
};

struct DequantBF16 {
  using Block = Block32Half;
  static constexpr int kSubs = 1;
  TANDEM_HD void operator()(const Block& b, int /*sub*/, float (&v)[32]) const {
    uint32_t h[16];
    dequant::load_words<16>(reinterpret_cast<const uint8_t*>(b.h), h);
    TANDEM_UNROLL
    for (int i = 0; i < 16; ++i) {
      v[2 * i] = dequant::bf16_to_f32(static_cast<uint16_t>(h[i] & 0xffffu));
      v[2 * i + 1] = dequant::bf16_to_f32(static_cast<uint16_t>(h[i] >> 16));
    }
  }
};

}  // namespace tandem::gpu
