// dequantize_to_f16's per-piece step (gpu/cuda/dequant_f16.h), compiled here as plain
// C++: assembling a whole matrix piece by piece, with the kernel's indexing (row, piece
// within the row, block and sub-piece), must give cpu::dequantize_row_ref rounded to half
// by core/fp16.h, bit for bit, for every type, on rows quantized by the reference (normal,
// spread, tiny values in the half subnormal range, values past the half range) and on
// blocks of random bytes. The GPU test (tests/gpu/dequantize_f16_test.cpp) checks the
// device's rounding against the same oracle.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "cpu/quant_ref.h"
#include "gpu/cuda/dequant_f16.h"
#include "gpu/cuda/dequant_k.h"
#include "gpu/cuda/dequant_legacy.h"
#include "gpu/cuda/gemm_plan.h"

namespace tandem::gpu {
namespace {

struct alignas(16) Chunk16 {
  uint8_t b[16];
};
class AlignedBytes {
 public:
  explicit AlignedBytes(size_t n) : chunks_((n + 15) / 16 + 1) {}
  uint8_t* data() { return chunks_.front().b; }

 private:
  std::vector<Chunk16> chunks_;
};

// Row `kind`: N(0,1); each 32-piece scaled by 2^(p % 9 - 4); around 3e-6 and around
// 1e-3 (weights in the half subnormals: the block scale is tiny, or the super-block's
// d is); around 3e4 with some past 65504 (inf in half); small with outliers.
std::vector<float> make_row(int kind, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float z = normal(rng);
    switch (kind % 6) {
      case 0: v[i] = z; break;
      case 1: v[i] = z * std::ldexp(1.f, static_cast<int>((i / 32) % 9) - 4); break;
      case 2: v[i] = 3e-6f * z; break;
      case 3: v[i] = 3e4f * z; break;
      case 4: v[i] = (i % 41 == 3) ? 30.f * z : 1e-2f * z; break;
      default: v[i] = 1e-3f * z; break;
    }
  }
  return v;
}

// Runs dequant_piece_f16 over every piece of a [rows, cols] matrix at `w`, as the
// kernel's threads do (piece p: row p / pieces_per_row), and compares with the reference.
template <typename F>
void expect_matrix_matches(DType type, const uint8_t* w, int64_t rows, int64_t cols, const std::string& what) {
  const size_t row_bytes = cpu::quantized_row_bytes(type, cols);
  const int64_t pieces_per_row = cols / 32, blocks_per_row = pieces_per_row / F::kSubs;
  std::vector<uint16_t> got(static_cast<size_t>(rows * cols));
  for (int64_t p = 0; p < rows * pieces_per_row; ++p) {
    uint32_t h[16];
    dequant_piece_f16<F>(reinterpret_cast<const typename F::Block*>(w), blocks_per_row, p / pieces_per_row,
                         p % pieces_per_row, h);
    for (int i = 0; i < 16; ++i) {
      got[p * 32 + 2 * i] = static_cast<uint16_t>(h[i] & 0xffffu);
      got[p * 32 + 2 * i + 1] = static_cast<uint16_t>(h[i] >> 16);
    }
  }
  std::vector<float> ref(static_cast<size_t>(cols));
  int64_t bad = 0, inf = 0, sub = 0;
  std::string first;
  for (int64_t r = 0; r < rows; ++r) {
    cpu::dequantize_row_ref(type, w + r * row_bytes, ref.data(), cols);
    for (int64_t c = 0; c < cols; ++c) {
      const uint16_t want = f32_to_fp16(ref[c]), have = got[r * cols + c];
      inf += (want & 0x7fff) == 0x7c00;
      sub += (want & 0x7c00) == 0 && (want & 0x3ff) != 0;
      if (want == have) continue;
      if (++bad <= 5)
        first += "\n  row " + std::to_string(r) + " col " + std::to_string(c) + ": " + std::to_string(have) +
                 " want " + std::to_string(want) + " (reference " + std::to_string(ref[c]) + ")";
    }
  }
  EXPECT_EQ(bad, 0) << dtype_name(type) << " " << what << ": " << bad << " of " << rows * cols << " differ" << first;
  if (what == "quantized rows") {  // the rows reach the rounding's edge cases
    EXPECT_GT(sub, 0) << dtype_name(type) << ": no half subnormal among the weights";
    EXPECT_GT(inf, 0) << dtype_name(type) << ": no weight past the half range";
  }
}

template <typename F>
void check_type(DType type) {
  using Block = typename F::Block;
  ASSERT_TRUE(dequant_f16_supported(type));
  constexpr int64_t kRows = 11;  // odd
  const int64_t cols = 3 * 32 * F::kSubs;
  const size_t row_bytes = cpu::quantized_row_bytes(type, cols);
  AlignedBytes q(row_bytes * kRows);
  for (int64_t r = 0; r < kRows; ++r) {
    const auto x = make_row(static_cast<int>(r), cols, static_cast<uint64_t>(type) * 100 + r);
    cpu::quantize_row_ref(type, x.data(), q.data() + r * row_bytes, cols);
  }
  expect_matrix_matches<F>(type, q.data(), kRows, cols, "quantized rows");

  // Random bytes, finite scales (a NaN scale makes NaN weights, whose rounding is not compared).
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 31337);
  AlignedBytes rb(row_bytes * kRows);
  for (size_t i = 0; i < row_bytes * kRows; ++i) rb.data()[i] = static_cast<uint8_t>(rng());
  auto* blocks = reinterpret_cast<Block*>(rb.data());
  std::normal_distribution<float> normal(0.f, 0.05f);
  for (size_t b = 0; b < row_bytes * kRows / sizeof(Block); ++b) {
    if constexpr (requires { blocks[b].d; }) blocks[b].d = f32_to_fp16(normal(rng));
    if constexpr (requires { blocks[b].m; }) blocks[b].m = f32_to_fp16(normal(rng));
    if constexpr (requires { blocks[b].dmin; }) blocks[b].dmin = f32_to_fp16(normal(rng));
    if constexpr (requires { blocks[b].h; }) {
      for (uint16_t& h : blocks[b].h) {
        const float v = type == DType::kF16 ? fp16_to_f32(h) : bf16_to_f32(h);
        if (std::isnan(v)) h = 0;
      }
    }
  }
  expect_matrix_matches<F>(type, rb.data(), kRows, cols, "random bytes");
}

TEST(DequantF16Piece, Q4_0) { check_type<DequantQ4_0>(DType::kQ4_0); }
TEST(DequantF16Piece, Q4_1) { check_type<DequantQ4_1>(DType::kQ4_1); }
TEST(DequantF16Piece, Q5_0) { check_type<DequantQ5_0>(DType::kQ5_0); }
TEST(DequantF16Piece, Q5_1) { check_type<DequantQ5_1>(DType::kQ5_1); }
TEST(DequantF16Piece, Q8_0) { check_type<DequantQ8_0>(DType::kQ8_0); }
TEST(DequantF16Piece, F16) { check_type<DequantF16>(DType::kF16); }
TEST(DequantF16Piece, BF16) { check_type<DequantBF16>(DType::kBF16); }
TEST(DequantF16Piece, Q2_K) { check_type<DequantQ2_K>(DType::kQ2_K); }
TEST(DequantF16Piece, Q3_K) { check_type<DequantQ3_K>(DType::kQ3_K); }
TEST(DequantF16Piece, Q4_K) { check_type<DequantQ4_K>(DType::kQ4_K); }
TEST(DequantF16Piece, Q5_K) { check_type<DequantQ5_K>(DType::kQ5_K); }
TEST(DequantF16Piece, Q6_K) { check_type<DequantQ6_K>(DType::kQ6_K); }

TEST(DequantF16Piece, SupportedTypesAreTheGemvTypes) {
  for (DType t : {DType::kF32, DType::kQ8_1, DType::kQ8_K, DType::kI8, DType::kI32, DType::kF64})
    EXPECT_FALSE(dequant_f16_supported(t)) << dtype_name(t);
}

}  // namespace
}  // namespace tandem::gpu
