// Weight matrices of every GPU weight type for the GPU tests: rows quantized by
// cpu::quantize_row_ref (or blocks of random bytes with finite scales), with the floats
// cpu::dequantize_row_ref reads back from them, the oracle of every kernel.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/quant_ref.h"

namespace tandem::gpu::testing {

// The 12 types the GEMV, dequantize_to_f16 and gemm_quant take.
inline constexpr DType kWeightTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                         DType::kQ5_1, DType::kF16,  DType::kBF16, DType::kQ2_K,
                                         DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

struct QuantMatrix {
  DType type = DType::kF32;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> bytes;  // [rows, row_bytes]
  std::vector<float> deq;      // [rows, cols]: dequantize_row_ref of bytes
};

enum class RowKind {
  kNormal,    // N(0, 1)
  kWide,      // N(0, 1), each 32-piece scaled by 2^(p % 9 - 4); every 7th row from the
              // 4th near the half subnormals (1e-5), from the 6th past the half range (3e4)
  kRandomBytes,
};

inline float row_scale(RowKind kind, int64_t r) {
  if (kind != RowKind::kWide) return 1.f;
  if (r % 7 == 3) return 1e-5f;
  if (r % 7 == 5) return 3e4f;
  return 1.f;
}

inline void finish(QuantMatrix& m) {
  m.deq.resize(static_cast<size_t>(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r)
    cpu::dequantize_row_ref(m.type, m.bytes.data() + r * m.row_bytes, m.deq.data() + r * m.cols, m.cols);
}

inline QuantMatrix make_quant_matrix(DType type, int64_t rows, int64_t cols, RowKind kind, uint64_t seed) {
  QuantMatrix m{type, rows, cols, cpu::quantized_row_bytes(type, cols), {}, {}};
  m.bytes.resize(m.row_bytes * static_cast<size_t>(rows));
  std::mt19937_64 rng(seed);
  if (kind == RowKind::kRandomBytes) {
    for (uint8_t& b : m.bytes) b = static_cast<uint8_t>(rng());
    // Finite, moderate scales (random ones include NaN and inf); f16/bf16: no NaN.
    std::normal_distribution<float> small(0.f, 0.05f);
    const auto fix = [&](auto* blocks, size_t n) {
      for (size_t i = 0; i < n; ++i) {
        if constexpr (requires { blocks[i].d; }) blocks[i].d = f32_to_fp16(small(rng));
        if constexpr (requires { blocks[i].m; }) blocks[i].m = f32_to_fp16(small(rng));
        if constexpr (requires { blocks[i].dmin; }) blocks[i].dmin = f32_to_fp16(small(rng));
      }
    };
    const size_t n_blocks = m.bytes.size() / static_cast<size_t>(traits(type).block_bytes);
    switch (type) {
      case DType::kQ4_0: fix(reinterpret_cast<BlockQ4_0*>(m.bytes.data()), n_blocks); break;
      case DType::kQ4_1: fix(reinterpret_cast<BlockQ4_1*>(m.bytes.data()), n_blocks); break;
      case DType::kQ5_0: fix(reinterpret_cast<BlockQ5_0*>(m.bytes.data()), n_blocks); break;
      case DType::kQ5_1: fix(reinterpret_cast<BlockQ5_1*>(m.bytes.data()), n_blocks); break;
      case DType::kQ8_0: fix(reinterpret_cast<BlockQ8_0*>(m.bytes.data()), n_blocks); break;
      case DType::kQ2_K: fix(reinterpret_cast<BlockQ2_K*>(m.bytes.data()), n_blocks); break;
      case DType::kQ3_K: fix(reinterpret_cast<BlockQ3_K*>(m.bytes.data()), n_blocks); break;
      case DType::kQ4_K: fix(reinterpret_cast<BlockQ4_K*>(m.bytes.data()), n_blocks); break;
      case DType::kQ5_K: fix(reinterpret_cast<BlockQ5_K*>(m.bytes.data()), n_blocks); break;
      case DType::kQ6_K: fix(reinterpret_cast<BlockQ6_K*>(m.bytes.data()), n_blocks); break;
      case DType::kF16:
      case DType::kBF16: {
        auto* h = reinterpret_cast<uint16_t*>(m.bytes.data());
        for (size_t i = 0; i < m.bytes.size() / 2; ++i) {
          const float v = type == DType::kF16 ? fp16_to_f32(h[i]) : bf16_to_f32(h[i]);
          if (std::isnan(v)) h[i] = 0;
        }
        break;
      }
      default: break;
    }
  } else {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const float s = row_scale(kind, r);
      for (int64_t c = 0; c < cols; ++c) {
        // Spread pieces on ordinary rows only: 3e4 * 16 would overflow the half block scales.
        const float piece =
            kind == RowKind::kWide && s == 1.f ? std::ldexp(1.f, static_cast<int>((c / 32) % 9) - 4) : 1.f;
        x[c] = normal(rng) * s * piece;
      }
      cpu::quantize_row_ref(type, x.data(), m.bytes.data() + r * m.row_bytes, cols);
    }
  }
  finish(m);
  return m;
}

}  // namespace tandem::gpu::testing
