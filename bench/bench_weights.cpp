#include "bench_weights.h"

#include <cstddef>
#include <cstring>
#include <initializer_list>

#include "core/check.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"

namespace tandem::bench {
namespace {

struct XorShift {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f; }
};

// Overwrites the f16 fields at `offsets` of every block (`block` bytes) with values in [-1, 1].
void set_scales(std::vector<uint8_t>& w, size_t block, std::initializer_list<size_t> offsets,
                XorShift& rng) {
  for (size_t b = 0; b + block <= w.size(); b += block)
    for (size_t off : offsets) {
      const uint16_t h = f32_to_fp16(rng.uniform() * 0.01f);
      std::memcpy(w.data() + b + off, &h, sizeof(h));
    }
}

}  // namespace

std::vector<uint8_t> random_weights(DType t, int64_t rows, int64_t cols, uint64_t seed) {
  const auto row = row_bytes(t, static_cast<uint64_t>(cols));
  TANDEM_CHECK(row.has_value()) << dtype_name(t) << ": " << cols << " columns";
  std::vector<uint8_t> w(static_cast<size_t>(*row) * static_cast<size_t>(rows));
  XorShift rng{seed * 0x9e3779b97f4a7c15ull + 1};
  if (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16) {
    const size_t n = static_cast<size_t>(rows * cols);
    for (size_t i = 0; i < n; ++i) {
      const float v = rng.uniform();
      if (t == DType::kF32) {
        std::memcpy(w.data() + 4 * i, &v, 4);
      } else {
        const uint16_t h = t == DType::kF16 ? f32_to_fp16(v) : f32_to_bf16(v);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    return w;
  }
  for (size_t i = 0; i + 8 <= w.size(); i += 8) {
    const uint64_t v = rng.next();
    std::memcpy(w.data() + i, &v, 8);
  }
  switch (t) {
    case DType::kQ4_0: set_scales(w, sizeof(BlockQ4_0), {0}, rng); break;
    case DType::kQ5_0: set_scales(w, sizeof(BlockQ5_0), {0}, rng); break;
    case DType::kQ8_0: set_scales(w, sizeof(BlockQ8_0), {0}, rng); break;
    case DType::kQ4_1: set_scales(w, sizeof(BlockQ4_1), {0, 2}, rng); break;
    case DType::kQ5_1: set_scales(w, sizeof(BlockQ5_1), {0, 2}, rng); break;
    case DType::kQ2_K: set_scales(w, sizeof(BlockQ2_K), {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}, rng); break;
    case DType::kQ3_K: set_scales(w, sizeof(BlockQ3_K), {offsetof(BlockQ3_K, d)}, rng); break;
    case DType::kQ4_K: set_scales(w, sizeof(BlockQ4_K), {0, 2}, rng); break;
    case DType::kQ5_K: set_scales(w, sizeof(BlockQ5_K), {0, 2}, rng); break;
    case DType::kQ6_K: set_scales(w, sizeof(BlockQ6_K), {offsetof(BlockQ6_K, d)}, rng); break;
    default: TANDEM_CHECK(false) << "random_weights: no benchmark weights for " << dtype_name(t);
  }
  return w;
}

}  // namespace tandem::bench
