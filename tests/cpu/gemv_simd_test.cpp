// Every GEMV kernel select_gemv() picks on this CPU, for every ISA the CPU supports,
// against vec_dot_ref row by row. Quantized types must match bit for bit; the float
// types within the summation-order bound (gemv_test_util.h).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "cpu/gemv.h"
#include "cpu/isa.h"
#include "cpu/quant_ref.h"
#include "gemv_test_util.h"

namespace tandem {
namespace {

using cpu::Isa;
using testing::GemvCase;

constexpr DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ4_1,
                            DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                            DType::kQ5_K, DType::kQ6_K, DType::kF16,  DType::kBF16,
                            DType::kF32};
constexpr int64_t kRowCounts[] = {1, 3, 7, 67};

// Column counts: 1, 3 and 129 blocks (odd counts; 4128 = 129 * 32), 1, 3 and 11
// super-blocks; the float types also get tails that are not a multiple of 8 or 16.
std::vector<int64_t> col_counts(DType t) {
  if (testing::is_float_type(t)) return {1, 7, 32, 33, 96, 100, 4128};
  if (traits(t).block_elems == kQK_K) return {256, 768, 2816};
  return {32, 96, 4128};
}

struct Param {
  Isa isa;
  DType type;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << cpu::isa_name(p.isa) << " " << dtype_name(p.type);
}

std::vector<Param> all_params(bool quantized_only) {
  std::vector<Param> v;
  for (Isa isa : cpu::supported_isas())
    for (DType t : kTypes)
      if (!quantized_only || !testing::is_float_type(t)) v.push_back({isa, t});
  return v;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(cpu::isa_name(info.param.isa)) + "_" + std::string(dtype_name(info.param.type));
}

const float kSentinel = std::bit_cast<float>(0x7fc0dead);  // a NaN nobody computes

// Runs the kernel on rows [row_begin, row_end) and checks every row of y: computed
// rows against vec_dot_ref, the others untouched. Stops after 5 mismatches.
void check_rows(const GemvCase& c, Isa isa, int64_t row_begin, int64_t row_end) {
  std::vector<float> y(static_cast<size_t>(c.rows), kSentinel);
  cpu::GemvRows a;
  a.w = c.w.data();
  a.w_stride = c.w_row;
  a.x = c.x.data();
  a.cols = c.cols;
  a.row_begin = row_begin;
  a.row_end = row_end;
  a.y = y.data();
  cpu::select_gemv(c.type, isa)(a);
  int failures = 0;
  for (int64_t r = 0; r < c.rows && failures < 5; ++r) {
    const float got = y[static_cast<size_t>(r)];
    if (r < row_begin || r >= row_end) {
      if (std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(kSentinel)) {
        ++failures;
        ADD_FAILURE() << "row " << r << " outside [" << row_begin << ", " << row_end
                      << ") was written: " << got;
      }
      continue;
    }
    const float want = cpu::vec_dot_ref(c.type, c.cols, c.row(r), c.x.data());
    const double diff = std::fabs(static_cast<double>(got) - want);
    const double allowed = testing::allowed_difference(c, r);
    if (!(diff <= allowed)) {
      ++failures;
      ADD_FAILURE() << "row " << r << ": kernel " << got << ", reference " << want << ", |diff| "
                    << diff << " > allowed " << allowed;
    }
  }
}

class GemvSimd : public ::testing::TestWithParam<Param> {};

TEST_P(GemvSimd, GaussianRowsMatchReference) {
  const auto [isa, t] = GetParam();
  for (int64_t cols : col_counts(t)) {
    for (int64_t rows : kRowCounts) {
      const GemvCase c = testing::gaussian_case(t, rows, cols, static_cast<uint32_t>(rows * 7919 + cols));
      SCOPED_TRACE(testing::type_name(t) + " on " + std::string(cpu::isa_name(isa)) +
                   ": rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
      check_rows(c, isa, 0, rows);
      if (rows >= 7) check_rows(c, isa, rows / 3, rows - rows / 4);  // a range inside
    }
  }
}

// Random bytes reach every quant value, scale, min and high-bit pattern (and Q8_0's
// -128), which quantized Gaussian rows rarely do.
class GemvSimdBits : public ::testing::TestWithParam<Param> {};

TEST_P(GemvSimdBits, RandomBitsMatchReference) {
  const auto [isa, t] = GetParam();
  const std::vector<int64_t> cols_list = col_counts(t);
  for (int64_t cols : {cols_list[0], cols_list[2]}) {
    for (int64_t rows : {7, 67}) {
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        const GemvCase c = testing::raw_case(t, rows, cols, seed * 104729u + static_cast<uint32_t>(cols));
        SCOPED_TRACE(testing::type_name(t) + " on " + std::string(cpu::isa_name(isa)) +
                     ": random bits, rows=" + std::to_string(rows) + " cols=" +
                     std::to_string(cols) + " seed=" + std::to_string(seed));
        check_rows(c, isa, 0, rows);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SupportedIsas, GemvSimd, ::testing::ValuesIn(all_params(false)), param_name);
INSTANTIATE_TEST_SUITE_P(SupportedIsas, GemvSimdBits, ::testing::ValuesIn(all_params(true)), param_name);

// ---- which kernel select_gemv returns -------------------------------------------

cpu::CpuFeatures all_features() {
  cpu::CpuFeatures f;
  f.os_ymm = f.os_zmm = f.avx2 = f.fma = f.f16c = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = true;
  f.avx512_vnni = f.avx512_bf16 = f.avx512_vbmi = true;
  return f;
}

TEST(SelectGemv, ScalarIsTheReference) {
  for (DType t : kTypes)
    EXPECT_EQ(cpu::select_gemv(t, Isa::kScalar, all_features()), cpu::reference_gemv(t)) << dtype_name(t);
}

TEST(SelectGemv, EveryTypeHasSimdKernels) {
  for (DType t : kTypes) {
    const auto ref = cpu::reference_gemv(t);
    const auto avx2 = cpu::select_gemv(t, Isa::kAvx2, all_features());
    const auto avx512 = cpu::select_gemv(t, Isa::kAvx512, all_features());
    EXPECT_NE(avx2, ref) << dtype_name(t);
    EXPECT_NE(avx512, ref) << dtype_name(t);
    EXPECT_NE(avx512, avx2) << dtype_name(t);
  }
}

TEST(SelectGemv, Avx512WithoutVnniRunsAvx2IntegerKernels) {
  cpu::CpuFeatures f = all_features();
  f.avx512_vnni = false;
  for (DType t : kTypes) {
    const bool integer = !testing::is_float_type(t);
    EXPECT_EQ(cpu::select_gemv(t, Isa::kAvx512, f) == cpu::select_gemv(t, Isa::kAvx2, f), integer)
        << dtype_name(t);
  }
}

TEST(SelectGemv, TypesWithoutKernelsFallBackToReference) {
  EXPECT_EQ(cpu::select_gemv(DType::kQ8_K, Isa::kAvx512, all_features()),
            cpu::reference_gemv(DType::kQ8_K));
}

}  // namespace
}  // namespace tandem
