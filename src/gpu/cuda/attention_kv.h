// Reading the paged KV cache in the GPU attention kernels, for two compilers (TANDEM_HD,
// see dequant_common.h), so tests/gpu_host checks the very loaders against
// cpu::load_kv_row bit for bit.
//
// Layout (engine/kv_cache.h, cpu::PagedKv): per layer a K pool and a V pool of
//   [n_blocks, n_kv_heads, block_tokens, head_dim] of the cache type,
// one row (head_dim values of one KV head of one token) at byte row * row_bytes. Token
// `pos` of a sequence lives in block table[pos / block_tokens] at slot pos % block_tokens.
//
// A loader reads chunk c (elements 8c .. 8c + 7) of a row as f32, the values
// cpu::load_kv_row gives (q8_0: d * q, exact in f32):
//   struct KvX { static constexpr DType kType; static int64_t row_bytes(int32_t head_dim);
//                static void load8(const uint8_t* row, int32_t c, float (&v)[8]); };
// f32, f16, bf16 rows are 16-byte aligned when the pool is and head_dim % 8 == 0 (the
// launchers check both) and are read 16 bytes at a time; a q8_0 row is head_dim / 32
// blocks of 34 bytes, only 2-byte aligned, read 2 bytes at a time.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "gpu/cuda/dequant_common.h"

namespace tandem::gpu::attn {

// Row index of token `pos` of a sequence for KV head kvh; table: the sequence's blocks.
TANDEM_HD int64_t kv_row(const int32_t* table, int32_t pos, int32_t n_kv_heads, int32_t kvh, int32_t block_tokens) {
  const int64_t block = table[pos / block_tokens];
  return (block * n_kv_heads + kvh) * block_tokens + pos % block_tokens;
}

// Bits of a float, on both compilers.
TANDEM_HD float bits_to_f32(uint32_t w) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(w);
#else
  float f;
  std::memcpy(&f, &w, sizeof(f));
  return f;
#endif
}

struct KvF32 {
  static constexpr DType kType = DType::kF32;
  TANDEM_HD static int64_t row_bytes(int32_t head_dim) { return int64_t{head_dim} * 4; }
  TANDEM_HD static void load8(const uint8_t* row, int32_t c, float (&v)[8]) {
    uint32_t w[8];
    dequant::load_words<16, 8>(row + 32 * c, w);
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) v[i] = bits_to_f32(w[i]);
  }
};

struct KvF16 {
  static constexpr DType kType = DType::kF16;
  TANDEM_HD static int64_t row_bytes(int32_t head_dim) { return int64_t{head_dim} * 2; }
  TANDEM_HD static void load8(const uint8_t* row, int32_t c, float (&v)[8]) {
    uint32_t w[4];
    dequant::load_words<16, 4>(row + 16 * c, w);
    TANDEM_UNROLL
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = dequant::half_to_f32(static_cast<uint16_t>(w[i] & 0xffffu));
      v[2 * i + 1] = dequant::half_to_f32(static_cast<uint16_t>(w[i] >> 16));
    }
  }
};

struct KvBF16 {
  static constexpr DType kType = DType::kBF16;
  TANDEM_HD static int64_t row_bytes(int32_t head_dim) { return int64_t{head_dim} * 2; }
  TANDEM_HD static void load8(const uint8_t* row, int32_t c, float (&v)[8]) {
    uint32_t w[4];
    dequant::load_words<16, 4>(row + 16 * c, w);
    TANDEM_UNROLL
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = dequant::bf16_to_f32(static_cast<uint16_t>(w[i] & 0xffffu));
      v[2 * i + 1] = dequant::bf16_to_f32(static_cast<uint16_t>(w[i] >> 16));
    }
  }
};

// BlockQ8_0: {uint16_t d (f16 bits); int8_t qs[32]}, 34 bytes; chunk c is quants
// 8 (c % 4) .. 8 (c % 4) + 7 of block c / 4.
struct KvQ8_0 {
  static constexpr DType kType = DType::kQ8_0;
  static constexpr int32_t kBlockBytes = 34;
  TANDEM_HD static int64_t row_bytes(int32_t head_dim) { return int64_t{head_dim} / 32 * kBlockBytes; }
  TANDEM_HD static void load8(const uint8_t* row, int32_t c, float (&v)[8]) {
    const uint8_t* block = row + kBlockBytes * (c / 4);
    uint32_t d_word[1];
    dequant::load_words<2, 1>(block, d_word);  // d and the first two quants; d is the low half
    const float d = dequant::half_to_f32(static_cast<uint16_t>(d_word[0] & 0xffffu));
    uint32_t q[2];
    dequant::load_words<2, 2>(block + 2 + 8 * (c % 4), q);
    TANDEM_UNROLL
    for (int i = 0; i < 8; ++i) {
      const auto qi = static_cast<int8_t>(dequant::byte_of(q[i / 4], i % 4));
      v[i] = dequant::fmul(static_cast<float>(qi), d);
    }
  }
};

}  // namespace tandem::gpu::attn
