// The GEMV kernels' per-block dequantizers (gpu/cuda/dequant_legacy.h, dequant_k.h),
// compiled here as plain C++, against cpu::dequantize_row_ref: every 32-weight piece
// of every block must give the reference's floats bit for bit, on rows quantized by
// cpu::quantize_row_ref (varied ranges, all positive, zeros, outliers, tiny values) and
// on blocks of random bytes (every pattern of packed scales, high bits and masks; f16
// and bf16: all 65536 values). Blocks sit in one 16-byte-aligned buffer, row after row
// as the GPU reads them, so the loads' alignment checks (dequant_common.h) run too.
// This file is built with -ffp-contract=off, as the reference is (tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/fp16.h"
#include "cpu/quant_ref.h"
#include "gpu/cuda/dequant_k.h"
#include "gpu/cuda/dequant_legacy.h"

namespace tandem::gpu {
namespace {

constexpr int64_t kBlocksPerRow = 5;  // odd, so rows start at every block offset mod 16
constexpr int kRowKinds = 6;

// Bytes that start on a 16-byte boundary, as a device allocation does.
struct alignas(16) Chunk16 {
  uint8_t b[16];
};
class AlignedBytes {
 public:
  explicit AlignedBytes(size_t n) : chunks_((n + 15) / 16) {}
  uint8_t* data() { return chunks_.front().b; }

 private:
  std::vector<Chunk16> chunks_;
};

// Row `kind` of n values: N(0,1); N(0,1) with each 32-piece scaled by 2^(p % 7 - 3)
// (spreads sub-block scales and mins over their ranges); all positive; all zero;
// small values with a few large outliers; values near the f16 subnormal range.
std::vector<float> make_row(int kind, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) {
    const float z = normal(rng);
    switch (kind) {
      case 0: v[i] = z; break;
      case 1: v[i] = z * std::ldexp(1.f, static_cast<int>((i / 32) % 7) - 3); break;
      case 2: v[i] = std::fabs(z) + 0.25f; break;
      case 3: v[i] = 0.f; break;
      case 4: v[i] = (i % 53 == 7) ? 40.f * z : 1e-3f * z; break;
      default: v[i] = 1e-5f * z; break;
    }
  }
  return v;
}

uint16_t random_half(std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.f, 0.05f);
  return f32_to_fp16(normal(rng));
}

// Random bytes make NaN and infinite block scales; give each block finite ones.
template <typename Block>
void finite_scales(Block& b, std::mt19937_64& rng) {
  if constexpr (requires { b.d; }) b.d = random_half(rng);
  if constexpr (requires { b.m; }) b.m = random_half(rng);
  if constexpr (requires { b.dmin; }) b.dmin = random_half(rng);
}

// Runs the functor over every piece of n_blocks blocks at `data` and compares with
// dequantize_row_ref; names `what`, the first mismatches and their count.
template <typename F>
void expect_pieces_match(DType type, const uint8_t* data, int64_t n_blocks, const std::string& what) {
  using Block = typename F::Block;
  constexpr int kElems = 32 * F::kSubs;
  std::vector<float> ref(n_blocks * kElems);
  cpu::dequantize_row_ref(type, data, ref.data(), n_blocks * kElems);
  const auto* blocks = reinterpret_cast<const Block*>(data);
  int64_t bad = 0;
  std::string first;
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int s = 0; s < F::kSubs; ++s) {
      float v[32];
      F{}(blocks[b], s, v);
      for (int j = 0; j < 32; ++j) {
        const float r = ref[b * kElems + 32 * s + j];
        if (std::bit_cast<uint32_t>(v[j]) == std::bit_cast<uint32_t>(r)) continue;
        if (++bad <= 5)
          first += "\n  block " + std::to_string(b) + " piece " + std::to_string(s) + " element " +
                   std::to_string(j) + ": functor " + std::to_string(v[j]) + " reference " + std::to_string(r);
      }
    }
  }
  EXPECT_EQ(bad, 0) << dtype_name(type) << " " << what << ": " << bad << " of " << ref.size()
                    << " weights differ" << first;
}

template <typename F>
void check_type(DType type) {
  using Block = typename F::Block;
  constexpr int64_t kElems = 32 * F::kSubs;
  ASSERT_EQ(sizeof(Block), static_cast<size_t>(traits(type).block_bytes) * kElems / traits(type).block_elems)
      << dtype_name(type);

  // Rows quantized by the CPU reference, one after another in one buffer.
  const int64_t cols = kBlocksPerRow * kElems;
  const size_t row_bytes = cpu::quantized_row_bytes(type, cols);
  ASSERT_EQ(row_bytes, kBlocksPerRow * sizeof(Block));
  AlignedBytes rows(row_bytes * kRowKinds);
  for (int kind = 0; kind < kRowKinds; ++kind) {
    const std::vector<float> x = make_row(kind, cols, 1000 * static_cast<uint64_t>(type) + kind);
    cpu::quantize_row_ref(type, x.data(), rows.data() + kind * row_bytes, cols);
  }
  expect_pieces_match<F>(type, rows.data(), kBlocksPerRow * kRowKinds, "quantized rows");

  // Blocks of random bytes (f16/bf16: every 16-bit pattern once).
  std::mt19937_64 rng(static_cast<uint64_t>(type) * 7919);
  if constexpr (std::is_same_v<Block, Block32Half>) {
    constexpr int64_t kBlocks = 65536 / 32;
    AlignedBytes all(kBlocks * sizeof(Block));
    auto* h = reinterpret_cast<uint16_t*>(all.data());
    for (uint32_t i = 0; i < 65536; ++i) h[i] = static_cast<uint16_t>(i);
    expect_pieces_match<F>(type, all.data(), kBlocks, "every 16-bit pattern");
  } else {
    constexpr int64_t kBlocks = 512;
    AlignedBytes random(kBlocks * sizeof(Block));
    for (size_t i = 0; i < kBlocks * sizeof(Block); ++i) random.data()[i] = static_cast<uint8_t>(rng());
    auto* blocks = reinterpret_cast<Block*>(random.data());
    for (int64_t b = 0; b < kBlocks; ++b) finite_scales(blocks[b], rng);
    expect_pieces_match<F>(type, random.data(), kBlocks, "random bytes");
  }
}

TEST(DequantFunctor, Q4_0) { check_type<DequantQ4_0>(DType::kQ4_0); }
TEST(DequantFunctor, Q4_1) { check_type<DequantQ4_1>(DType::kQ4_1); }
TEST(DequantFunctor, Q5_0) { check_type<DequantQ5_0>(DType::kQ5_0); }
TEST(DequantFunctor, Q5_1) { check_type<DequantQ5_1>(DType::kQ5_1); }
TEST(DequantFunctor, Q8_0) { check_type<DequantQ8_0>(DType::kQ8_0); }
TEST(DequantFunctor, F16) { check_type<DequantF16>(DType::kF16); }
TEST(DequantFunctor, BF16) { check_type<DequantBF16>(DType::kBF16); }
TEST(DequantFunctor, Q2_K) { check_type<DequantQ2_K>(DType::kQ2_K); }
TEST(DequantFunctor, Q3_K) { check_type<DequantQ3_K>(DType::kQ3_K); }
TEST(DequantFunctor, Q4_K) { check_type<DequantQ4_K>(DType::kQ4_K); }
TEST(DequantFunctor, Q5_K) { check_type<DequantQ5_K>(DType::kQ5_K); }
TEST(DequantFunctor, Q6_K) { check_type<DequantQ6_K>(DType::kQ6_K); }

// The loads' alignment promise is checked on the host: a piece read from a block that
// does not start where the layout says fails loudly instead of faulting on a GPU.
TEST(DequantFunctorDeathTest, MisalignedBlockIsCaught) {
  AlignedBytes bytes(2 * sizeof(BlockQ4_K) + 16);
  std::memset(bytes.data(), 0, 2 * sizeof(BlockQ4_K) + 16);
  const auto* shifted = reinterpret_cast<const BlockQ4_K*>(bytes.data() + 2);
  float v[32];
  EXPECT_DEATH(DequantQ4_K{}(*shifted, 0, v), "aligned load");
}

}  // namespace
}  // namespace tandem::gpu
