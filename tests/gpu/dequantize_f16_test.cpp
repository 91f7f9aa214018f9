// dequantize_to_f16 on the device, bit for bit against cpu::dequantize_row_ref rounded to
// half by core/fp16.h (the device dequantizers' exactness check, rounding included), for
// every weight type: rows quantized by the reference (incl. weights in the half subnormal
// range and past the half range), blocks of random bytes, f16/bf16 every 16-bit pattern;
// odd row counts, short and long rows, and a row range. convert_f32_to_f16 against
// f32_to_fp16 on every half, the ties between neighbouring halves and random floats.
// NaN policy: a NaN from the reference must be a NaN on the device (payloads may differ).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu/cuda/dequantize_f16.cuh"
#include "gpu/cuda/gemm_plan.h"
#include "gpu_test_util.h"
#include "quant_matrix.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;
using testing::QuantMatrix;
using testing::RowKind;

bool is_nan_half(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

// got [n] halves against f32_to_fp16(want[i]); names the first mismatches.
void expect_halves(const std::vector<uint16_t>& got, const float* want, size_t n, int64_t cols,
                   const std::string& what) {
  ASSERT_EQ(got.size(), n) << what;
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < n; ++i) {
    const uint16_t w = f32_to_fp16(want[i]);
    if (got[i] == w || (is_nan_half(w) && is_nan_half(got[i]))) continue;
    if (++bad <= 5)
      first += "\n  row " + std::to_string(i / cols) + " col " + std::to_string(i % cols) + ": gpu " +
               std::to_string(got[i]) + " want " + std::to_string(w) + " (reference " + std::to_string(want[i]) + ")";
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << n << " halves differ" << first;
}

class DequantizeF16Test : public GpuTest {
 public:
  void check(const QuantMatrix& m, const std::string& what) {
    DeviceBuffer dw = upload(m.bytes);
    auto out = alloc_->allocate(m.rows * m.cols * 2, "f16 out");
    ASSERT_TRUE(out) << out.error().message();
    ASSERT_EQ(dequantize_to_f16(m.type, dw.data(), m.rows, m.cols, out->as<uint16_t>(), stream()), cudaSuccess)
        << what;
    expect_halves(download<uint16_t>(*out, m.rows * m.cols), m.deq.data(), m.deq.size(), m.cols, what);

    // Rows [5, 22) alone, into a buffer of their own.
    const int64_t begin = 5, n = std::min<int64_t>(17, m.rows - begin);
    if (n <= 0) return;
    auto part = alloc_->allocate(n * m.cols * 2, "f16 rows");
    ASSERT_TRUE(part);
    ASSERT_EQ(dequantize_rows_to_f16(m.type, dw.data(), begin, n, m.cols, part->as<uint16_t>(), stream()),
              cudaSuccess);
    expect_halves(download<uint16_t>(*part, n * m.cols), m.deq.data() + begin * m.cols, n * m.cols, m.cols,
                  what + " rows 5..");
  }
};

TEST_F(DequantizeF16Test, EveryTypeMatchesTheReferenceRoundedToHalf) {
  for (DType type : testing::kWeightTypes) {
    const int64_t block = traits(type).block_elems;
    for (int64_t cols : {block, 3 * block, 4096 + block}) {
      for (RowKind kind : {RowKind::kNormal, RowKind::kWide, RowKind::kRandomBytes}) {
        const std::string what = std::string(dtype_name(type)) + " cols " + std::to_string(cols) + " kind " +
                                 std::to_string(static_cast<int>(kind));
        check(testing::make_quant_matrix(type, 37, cols, kind, cols * 131 + static_cast<uint64_t>(kind)), what);
      }
    }
  }
}

TEST_F(DequantizeF16Test, HalfTypesEveryBitPattern) {
  for (DType type : {DType::kF16, DType::kBF16}) {
    QuantMatrix m{type, 64, 1024, 2048, {}, {}};  // 65536 values, one per pattern
    m.bytes.resize(64 * 2048);
    auto* h = reinterpret_cast<uint16_t*>(m.bytes.data());
    for (uint32_t i = 0; i < 65536; ++i) h[i] = static_cast<uint16_t>(i);
    testing::finish(m);
    check(m, std::string(dtype_name(type)) + " every pattern");
  }
}

TEST_F(DequantizeF16Test, ConvertF32MatchesRoundToNearestEven) {
  std::vector<float> x;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float v = fp16_to_f32(static_cast<uint16_t>(h));
    x.push_back(v);
    if (std::isfinite(v) && (h & 0x7fff) != 0x7bff) {  // the tie with the next half up, and both sides of it
      const float next = fp16_to_f32(static_cast<uint16_t>(h + 1));
      const float mid = static_cast<float>((static_cast<double>(v) + next) / 2);
      x.push_back(mid);
      x.push_back(std::nextafter(mid, 0.f));
      x.push_back(std::nextafter(mid, 1e30f * (v < 0 ? -1.f : 1.f)));
    }
  }
  for (float v : {65504.f, 65519.f, 65519.996f, 65520.f, 1e30f, -65520.f, 2.98e-8f, 2.99e-8f, 5.96e-8f, 1e-40f})
    x.push_back(v);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100000; ++i) {
    uint32_t u = static_cast<uint32_t>(rng());
    float v;
    std::memcpy(&v, &u, 4);
    x.push_back(v);
  }
  DeviceBuffer dx = upload(x);
  auto out = alloc_->allocate(x.size() * 2, "halves");
  ASSERT_TRUE(out);
  ASSERT_EQ(convert_f32_to_f16(dx.as<float>(), static_cast<int64_t>(x.size()), out->as<uint16_t>(), stream()),
            cudaSuccess);
  expect_halves(download<uint16_t>(*out, x.size()), x.data(), x.size(), 1, "f32 -> f16");
}

// Arguments off the contract come back as cudaErrorInvalidValue before any launch, so
// this runs without a device (the pointers are never dereferenced).
TEST(DequantizeF16Launcher, RejectsArgumentsOffTheContract) {
  const void* w = reinterpret_cast<const void*>(uintptr_t{0x10000});
  auto* out = reinterpret_cast<uint16_t*>(uintptr_t{0x20000});
  EXPECT_EQ(dequantize_to_f16(DType::kF32, w, 4, 64, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ8_K, w, 4, 256, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_K, w, 4, 288, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_0, w, 4, 48, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_0, w, -1, 64, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_rows_to_f16(DType::kQ4_0, w, -1, 4, 64, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_0, reinterpret_cast<const char*>(w) + 8, 4, 64, out, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_0, w, 4, 64, out + 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(dequantize_to_f16(DType::kQ4_0, w, 0, 64, out, nullptr), cudaSuccess);  // nothing to do
  EXPECT_EQ(convert_f32_to_f16(nullptr, -1, out, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(convert_f32_to_f16(nullptr, 0, out, nullptr), cudaSuccess);
}

}  // namespace
}  // namespace tandem::gpu
