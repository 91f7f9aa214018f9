// The LUT GEMV (cpu/lut_gemv.h): the activation tables hold the subset sums they
// promise, and the kernel gives vec_dot_ref's results bit for bit on random Q4_0 bytes
// (every nibble pattern, finite scales) and on Gaussian rows, for row counts around the
// 16-row group and the kernel's passes of 4, 2 and 1 groups (1, 3, 15, 16, 17, 33, 100,
// 130), 32, 96 and 4128 columns, row ranges that start and end inside groups, and
// activations at the int8 extremes (-128 included).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/lut_gemv.h"
#include "cpu/quant_ref.h"
#include "gemv_test_util.h"

namespace tandem {
namespace {

using testing::GemvCase;

constexpr float kSentinel = -12345.0f;

std::vector<cpu::LutActBlock> prepare(const GemvCase& c) {
  std::vector<cpu::LutActBlock> act(static_cast<size_t>(c.cols / kQK));
  cpu::lut_prepare_act(c.x.data(), c.cols, act.data());
  return act;
}

// Runs rows [r0, r1) into a vector filled with kSentinel and checks every row: the
// reference's value inside the range, the sentinel outside. Returns rows compared.
int check_range(const GemvCase& c, const cpu::LutMatrix& m, const std::vector<cpu::LutActBlock>& act,
                int64_t r0, int64_t r1) {
  std::vector<float> y(static_cast<size_t>(c.rows), kSentinel);
  cpu::lut_gemv_q4_0(m, act.data(), r0, r1, y.data());
  int compared = 0;
  for (int64_t r = 0; r < c.rows; ++r) {
    if (r < r0 || r >= r1) {
      EXPECT_EQ(y[r], kSentinel) << "row " << r << " outside [" << r0 << ", " << r1 << ") was written";
      continue;
    }
    const float ref = cpu::vec_dot_ref(DType::kQ4_0, c.cols, c.row(r), c.x.data());
    EXPECT_EQ(y[r], ref) << "row " << r << " of [" << r0 << ", " << r1 << ")";
    ++compared;
  }
  return compared;
}

TEST(LutGemv, AvailableNeedsAvx512VnniAndVbmi) {
  cpu::CpuFeatures f = cpu::cpu_features();
  EXPECT_EQ(cpu::lut_available(f),
            cpu::isa_supported(cpu::Isa::kAvx512, f) && f.avx512_vnni && f.avx512_vbmi);
  f.avx512_vbmi = false;
  EXPECT_FALSE(cpu::lut_available(f));
  f = cpu::cpu_features();
  f.avx512_vnni = false;
  EXPECT_FALSE(cpu::lut_available(f));
}

// The tables are plain C++: checked on every CPU, entry by entry, against the sums
// written out.
TEST(LutGemv, TablesHoldSubsetSumsOfTheSplitActivations) {
  constexpr int64_t kCols = 64;
  std::vector<BlockQ8_0> x(kCols / kQK);
  for (int b = 0; b < 2; ++b) {
    x[b].d = f32_to_fp16(0.25f * static_cast<float>(b + 1));
    for (int i = 0; i < kQK; ++i) x[b].qs[i] = static_cast<int8_t>((i * 37 + b * 101) % 256 - 128);
  }
  x[1].qs[5] = -128;
  x[1].qs[6] = 127;
  std::vector<cpu::LutActBlock> act(kCols / kQK);
  cpu::lut_prepare_act_ref(x.data(), kCols, act.data());
  for (int b = 0; b < 2; ++b) {
    int sum = 0;
    for (int i = 0; i < kQK; ++i) sum += x[b].qs[i];
    EXPECT_EQ(act[b].bias, -8 * sum);
    EXPECT_EQ(act[b].d, fp16_to_f32(x[b].d));
    for (int g = 0; g < 8; ++g) {
      for (int m = 0; m < 16; ++m) {
        int lo = 0, hi = 0, whole = 0;
        for (int i = 0; i < 4; ++i) {
          if (!(m >> i & 1)) continue;
          const int v = x[b].qs[4 * g + i];
          lo += v & 15;
          hi += v >> 4;
          whole += v;
        }
        const uint8_t tl = act[b].tab[g / 2][2 * (g % 2)][m];
        const auto th = static_cast<int8_t>(act[b].tab[g / 2][2 * (g % 2) + 1][m]);
        EXPECT_EQ(tl, lo) << "block " << b << " group " << g << " pattern " << m;
        EXPECT_EQ(th, hi) << "block " << b << " group " << g << " pattern " << m;
        EXPECT_EQ(16 * th + tl, whole);
      }
    }
  }
}

// The AVX-512 table builder writes the plain C++ one's bytes: random blocks, blocks of
// one extreme value, and every int8 value in some group position.
TEST(LutGemv, SimdTablesEqualPlainTables) {
  if (!cpu::lut_available()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI/VBMI";
  constexpr int64_t kBlocks = 64;
  std::vector<BlockQ8_0> x(kBlocks);
  std::mt19937 rng(11);
  for (int64_t b = 0; b < kBlocks; ++b) {
    x[b].d = f32_to_fp16(std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng));
    for (int i = 0; i < kQK; ++i) {
      const int v = b == 0 ? -128 : b == 1 ? 127 : b < 10 ? static_cast<int>((b * 32 + i) % 256) - 128 : static_cast<int>(rng() % 256) - 128;
      x[b].qs[i] = static_cast<int8_t>(v);
    }
  }
  std::vector<cpu::LutActBlock> want(kBlocks), got(kBlocks);
  cpu::lut_prepare_act_ref(x.data(), kBlocks * kQK, want.data());
  cpu::lut_prepare_act(x.data(), kBlocks * kQK, got.data());
  for (int64_t b = 0; b < kBlocks; ++b) {
    EXPECT_EQ(std::memcmp(got[b].tab, want[b].tab, sizeof(want[b].tab)), 0) << "block " << b;
    EXPECT_EQ(got[b].bias, want[b].bias) << "block " << b;
    EXPECT_EQ(got[b].d, want[b].d) << "block " << b;
  }
}

// Floats straight to tables: the same bytes as the reference's Q8_0 row made into tables.
TEST(LutGemv, QuantizeActEqualsReferenceQ8_0Tables) {
  constexpr int64_t kCols = 4128;
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::vector<float> x = testing::gaussian_row(kCols, seed);
    if (seed == 3)
      for (int64_t i = 0; i < kCols; i += 7) x[i] = 0.0f;  // zero blocks, ties
    std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block: d = 0
    std::vector<uint8_t> q(cpu::quantized_row_bytes(DType::kQ8_0, kCols));
    cpu::quantize_activation_ref(DType::kQ4_0, x.data(), q.data(), kCols);
    std::vector<cpu::LutActBlock> want(kCols / kQK), got(kCols / kQK);
    cpu::lut_prepare_act_ref(q.data(), kCols, want.data());
    cpu::lut_quantize_act(x.data(), kCols, got.data());
    for (int64_t b = 0; b < kCols / kQK; ++b) {
      ASSERT_EQ(std::memcmp(got[b].tab, want[b].tab, sizeof(want[b].tab)), 0) << "seed " << seed << " block " << b;
      ASSERT_EQ(got[b].bias, want[b].bias) << "seed " << seed << " block " << b;
      ASSERT_EQ(got[b].d, want[b].d) << "seed " << seed << " block " << b;
    }
  }
}

// Packing is plain C++ too: the bit planes give back every quant and scale.
TEST(LutGemv, PackedPlanesHoldEveryQuant) {
  const GemvCase c = testing::raw_case(DType::kQ4_0, 19, 96, 5);
  auto m = cpu::pack_lut_q4_0(c.w.data(), c.rows, c.cols);
  ASSERT_TRUE(m.is_ok()) << m.error().message();
  ASSERT_EQ(m->groups, 2);
  ASSERT_EQ(m->bytes(), 2 * 3 * cpu::kLutBlockBytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m->data.get()) % 64, 0u);
  for (int64_t g = 0; g < m->groups; ++g) {
    for (int64_t b = 0; b < c.cols / kQK; ++b) {
      const std::byte* blk = m->group(g) + b * cpu::kLutBlockBytes;
      for (int r = 0; r < cpu::kLutRows; ++r) {
        const int64_t row = g * cpu::kLutRows + r;
        uint16_t d;
        std::memcpy(&d, blk + 2 * r, 2);
        for (int e = 0; e < kQK; ++e) {
          const int j = e / 8, shift = e % 8 < 4 ? 0 : 4, i = e % 4;
          int q = 0;
          for (int k = 0; k < 4; ++k) {
            const auto byte = static_cast<uint8_t>(blk[2 * cpu::kLutRows + 64 * j + 4 * r + k]);
            q |= ((byte >> (shift + i)) & 1) << k;
          }
          if (row >= c.rows) {
            ASSERT_EQ(q, 0) << "padding row " << row;
            continue;
          }
          const auto& src = reinterpret_cast<const BlockQ4_0*>(c.row(row))[b];
          const int want = e < 16 ? src.qs[e] & 15 : src.qs[e - 16] >> 4;
          ASSERT_EQ(q, want) << "row " << row << " block " << b << " element " << e;
        }
        EXPECT_EQ(d, row < c.rows ? reinterpret_cast<const BlockQ4_0*>(c.row(row))[b].d : 0);
      }
    }
  }
}

TEST(LutGemv, MatchesReferenceBitForBit) {
  if (!cpu::lut_available()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI/VBMI";
  int compared = 0;
  for (int64_t rows : {1, 3, 15, 16, 17, 33, 100, 130}) {
    for (int64_t cols : {32, 96, 4128}) {
      for (bool raw : {true, false}) {
        const auto seed = static_cast<uint32_t>(rows * 131 + cols);
        const GemvCase c = raw ? testing::raw_case(DType::kQ4_0, rows, cols, seed)
                               : testing::gaussian_case(DType::kQ4_0, rows, cols, seed);
        SCOPED_TRACE(std::string(raw ? "raw" : "gaussian") + " rows=" + std::to_string(rows) +
                     " cols=" + std::to_string(cols));
        auto m = cpu::pack_lut_q4_0(c.w.data(), rows, cols);
        ASSERT_TRUE(m.is_ok()) << m.error().message();
        const std::vector<cpu::LutActBlock> act = prepare(c);
        compared += check_range(c, *m, act, 0, rows);
        // Ranges that start (and end) inside a 16-row group.
        compared += check_range(c, *m, act, rows / 2, rows);
        compared += check_range(c, *m, act, rows / 3, rows - rows / 4);
        compared += check_range(c, *m, act, rows - 1, rows);
        check_range(c, *m, act, rows / 2, rows / 2);  // empty: writes nothing
      }
    }
  }
  EXPECT_GT(compared, 2000);
}

// Activations at the extremes: the split tables at their bounds (x = -128: TL 0, TH
// -32 per group; x = 127: TL 60, TH 28) and block sums as large as they get (rows of
// q = 0 against x = -128: isum = 32 * 8 * 128 = 32768).
TEST(LutGemv, ExtremeActivationsMatchReference) {
  if (!cpu::lut_available()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI/VBMI";
  constexpr int64_t kRows = 40, kCols = 256;
  for (int pattern = 0; pattern < 4; ++pattern) {
    GemvCase c = testing::raw_case(DType::kQ4_0, kRows, kCols, 77 + pattern);
    auto* x = reinterpret_cast<BlockQ8_0*>(c.x.data());
    auto* w = reinterpret_cast<BlockQ4_0*>(c.w.data());
    for (int64_t b = 0; b < kCols / kQK; ++b)
      for (int i = 0; i < kQK; ++i)
        x[b].qs[i] = static_cast<int8_t>(pattern == 0 ? -128 : pattern == 1 ? 127 : pattern == 2 ? (i % 2 ? 127 : -128) : -128 + (i * 9) % 256);
    // Rows 0, 1: all q = 0 (q - 8 = -8) and all q = 15.
    for (int64_t b = 0; b < kCols / kQK; ++b) {
      std::memset(w[b].qs, 0x00, sizeof(w[b].qs));
      std::memset(w[kCols / kQK + b].qs, 0xff, sizeof(w[b].qs));
    }
    auto m = cpu::pack_lut_q4_0(c.w.data(), kRows, kCols);
    ASSERT_TRUE(m.is_ok()) << m.error().message();
    SCOPED_TRACE("pattern " + std::to_string(pattern));
    EXPECT_EQ(check_range(c, *m, prepare(c), 0, kRows), kRows);
  }
}

}  // namespace
}  // namespace tandem
