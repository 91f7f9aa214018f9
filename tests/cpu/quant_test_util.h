// Helpers shared by the reference-kernel tests: random rows, buffers of a type, error
// measures.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cpu/quant_ref.h"

namespace tandem::testing {

// n samples of N(0, sigma^2), deterministic for a seed.
inline std::vector<float> gaussian_row(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// A zeroed buffer for a row of n elements of type t. std::vector<float> storage keeps
// it 4-byte aligned, enough for every block type.
struct RowBuf {
  std::vector<float> storage;
  size_t bytes = 0;
  RowBuf(DType t, int64_t n)
      : storage((cpu::quantized_row_bytes(t, n) + sizeof(float) - 1) / sizeof(float)),
        bytes(cpu::quantized_row_bytes(t, n)) {}
  void* data() { return storage.data(); }
  const void* data() const { return storage.data(); }
};

inline std::vector<float> quantize_dequantize(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  RowBuf q(t, n);
  cpu::quantize_row_ref(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  cpu::dequantize_row_ref(t, q.data(), y.data(), n);
  return y;
}

// ||a - b|| / ||b|| in f64 (0 when both are 0).
inline double rel_rms(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  if (den == 0) return num == 0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

inline std::string type_name(DType t) { return std::string(dtype_name(t)); }

}  // namespace tandem::testing
