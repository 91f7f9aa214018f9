// Helpers for the GEMV/matmul tests: weight matrices and activations of a type, and
// the tolerance of the float kernels.
//
// Tolerance. Quantized types: the SIMD kernels compute the reference's integer block
// sums and the same f32 operations per block in the same order, so they must match
// vec_dot_ref bit for bit (0 difference). F32/F16/BF16: same products, summed in a
// different order. Any order of summing n terms in f32 is within (n - 1) u sum|t_i|
// of the exact sum (u = 2^-24), the products of f16/bf16 are exact and an f32 product
// adds at most u |t_i|, so two orders differ by at most
//   |delta| <= 2 (n + 1) u sum_i |w_i x_i|.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/quant_ref.h"
#include "quant_test_util.h"

namespace tandem::testing {

inline bool is_float_type(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

// Bytes with 8-byte alignment (every block type's fields are naturally aligned then).
struct Bytes {
  std::vector<uint64_t> storage;
  explicit Bytes(size_t n = 0) : storage(n / 8 + 1) {}
  uint8_t* data() { return reinterpret_cast<uint8_t*>(storage.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(storage.data()); }
};

struct GemvCase {
  DType type;
  int64_t rows, cols;
  size_t w_row;  // bytes per weight row
  Bytes w;       // [rows, w_row]
  Bytes x;       // [cols] in vec_dot_type(type)
  const uint8_t* row(int64_t r) const { return w.data() + static_cast<size_t>(r) * w_row; }
};

// Gaussian weights quantized with quantize_row_ref, Gaussian activations converted
// with quantize_activation_ref.
inline GemvCase gaussian_case(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t w_row = cpu::quantized_row_bytes(t, cols);
  GemvCase c{t, rows, cols, w_row, Bytes(w_row * static_cast<size_t>(rows)),
             Bytes(cpu::quantized_row_bytes(cpu::vec_dot_type(t), cols))};
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> v = gaussian_row(cols, seed * 1000003u + static_cast<uint32_t>(r));
    cpu::quantize_row_ref(t, v.data(), c.w.data() + static_cast<size_t>(r) * w_row, cols);
  }
  const std::vector<float> x = gaussian_row(cols, seed ^ 0x5eed5eedu);
  cpu::quantize_activation_ref(t, x.data(), c.x.data(), cols);
  return c;
}

// Fills every block's f16 scales (at the given byte offsets inside a block of `size`
// bytes) with values of magnitude below 1, so sums stay finite.
inline void set_scales(uint8_t* p, size_t bytes, size_t size, std::initializer_list<size_t> offsets,
                       std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t b = 0; b + size <= bytes; b += size)
    for (size_t off : offsets) {
      const uint16_t h = f32_to_fp16(u(rng));
      std::memcpy(p + b + off, &h, sizeof(h));
    }
}

// Weights of random bytes (every quant, scale and high-bit pattern, Q8_0's -128
// included) with finite f16 scales; activations of random int8 in [-127, 127] (what the
// activation quantizers produce) with consistent Q8_1 sums and Q8_K bsums.
inline GemvCase raw_case(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  GemvCase c = gaussian_case(t, rows, cols, seed);  // shapes; bytes overwritten below
  std::mt19937 rng(seed);
  const size_t wbytes = c.w_row * static_cast<size_t>(rows);
  for (size_t i = 0; i < wbytes; ++i) c.w.data()[i] = static_cast<uint8_t>(rng());
  switch (t) {
    case DType::kQ4_0: set_scales(c.w.data(), wbytes, sizeof(BlockQ4_0), {0}, rng); break;
    case DType::kQ5_0: set_scales(c.w.data(), wbytes, sizeof(BlockQ5_0), {0}, rng); break;
    case DType::kQ8_0: set_scales(c.w.data(), wbytes, sizeof(BlockQ8_0), {0}, rng); break;
    case DType::kQ4_1: set_scales(c.w.data(), wbytes, sizeof(BlockQ4_1), {0, 2}, rng); break;
    case DType::kQ5_1: set_scales(c.w.data(), wbytes, sizeof(BlockQ5_1), {0, 2}, rng); break;
    case DType::kQ2_K:
      set_scales(c.w.data(), wbytes, sizeof(BlockQ2_K), {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}, rng);
      break;
    case DType::kQ3_K:
      set_scales(c.w.data(), wbytes, sizeof(BlockQ3_K), {offsetof(BlockQ3_K, d)}, rng);
      break;
    case DType::kQ4_K: set_scales(c.w.data(), wbytes, sizeof(BlockQ4_K), {0, 2}, rng); break;
    case DType::kQ5_K: set_scales(c.w.data(), wbytes, sizeof(BlockQ5_K), {0, 2}, rng); break;
    case DType::kQ6_K:
      set_scales(c.w.data(), wbytes, sizeof(BlockQ6_K), {offsetof(BlockQ6_K, d)}, rng);
      break;
    default: break;  // float types keep their Gaussian rows
  }
  std::uniform_int_distribution<int> q(-127, 127);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const DType xt = cpu::vec_dot_type(t);
  if (xt == DType::kQ8_0 || xt == DType::kQ8_1) {
    for (int64_t b = 0; b < cols / kQK; ++b) {
      int8_t* qs;
      float d = u(rng);
      if (xt == DType::kQ8_0) {
        auto& blk = reinterpret_cast<BlockQ8_0*>(c.x.data())[b];
        blk.d = f32_to_fp16(d);
        qs = blk.qs;
      } else {
        auto& blk = reinterpret_cast<BlockQ8_1*>(c.x.data())[b];
        blk.d = f32_to_fp16(d);
        qs = blk.qs;
      }
      int sum = 0;
      for (int j = 0; j < kQK; ++j) sum += qs[j] = static_cast<int8_t>(q(rng));
      if (xt == DType::kQ8_1)
        reinterpret_cast<BlockQ8_1*>(c.x.data())[b].s = f32_to_fp16(static_cast<float>(sum) * d);
    }
  } else if (xt == DType::kQ8_K) {
    for (int64_t b = 0; b < cols / kQK_K; ++b) {
      auto& blk = reinterpret_cast<BlockQ8_K*>(c.x.data())[b];
      blk.d = u(rng);
      for (int g = 0; g < kQK_K / 16; ++g) {
        int sum = 0;
        for (int e = 0; e < 16; ++e) sum += blk.qs[16 * g + e] = static_cast<int8_t>(q(rng));
        blk.bsums[g] = static_cast<int16_t>(sum);
      }
    }
  }
  return c;
}

// sum_i |w_i x_i| over row r, in f64 (for the float types' tolerance).
inline double sum_abs_terms(const GemvCase& c, int64_t r) {
  std::vector<float> w(static_cast<size_t>(c.cols)), x(static_cast<size_t>(c.cols));
  cpu::dequantize_row_ref(c.type, c.row(r), w.data(), c.cols);
  cpu::dequantize_row_ref(cpu::vec_dot_type(c.type), c.x.data(), x.data(), c.cols);
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i) s += std::fabs(static_cast<double>(w[i]) * x[i]);
  return s;
}

// The allowed |kernel - reference| for row r: 0 for quantized types (bit-identical),
// the summation-order bound for the float types.
inline double allowed_difference(const GemvCase& c, int64_t r) {
  if (!is_float_type(c.type)) return 0.0;
  return 2.0 * static_cast<double>(c.cols + 1) * std::ldexp(1.0, -24) * sum_abs_terms(c, r);
}

}  // namespace tandem::testing
