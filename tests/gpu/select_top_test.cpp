// argmax_rows and top_k_rows on the device against CPU loops with the CPU sampler's rules
// (engine/sampler.cpp: sampling::argmax; sanitize + sampling::sort_top), exactly: random
// logits, coarse ones full of ties, all equal, rows with -inf, NaN, +inf, FLT_MAX and
// signed zeros, rows of only -inf/NaN; n_vocab 1, 7, 128 and 128256; several rows per
// launch; k = 1 .. 64 (capped at n_vocab).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu/cuda/select_top.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

int32_t cpu_argmax(const float* v, int64_t n) {  // sampling::argmax
  int64_t best = 0;
  float best_v = -kInf;
  for (int64_t i = 0; i < n; ++i) {
    if (v[i] > best_v) {
      best_v = v[i];
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

float sanitize(float v) {  // the sampler's
  if (std::isnan(v)) return -kInf;
  if (v == kInf) return FLT_MAX;
  return v;
}

std::vector<std::pair<int32_t, float>> cpu_top_k(const float* v, int64_t n, int k) {  // sort_top
  std::vector<std::pair<int32_t, float>> c;
  for (int64_t i = 0; i < n; ++i) c.emplace_back(static_cast<int32_t>(i), sanitize(v[i]));
  std::partial_sort(c.begin(), c.begin() + k, c.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  c.resize(static_cast<size_t>(k));
  return c;
}

// Row r of kind r % 7: normal; coarse (ties); all equal; specials sprinkled; only
// -inf/NaN; mostly NaN; signed zeros and -inf.
std::vector<float> make_rows(int64_t n_rows, int64_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 4.f);
  std::vector<float> v(static_cast<size_t>(n_rows * n_vocab));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < n_vocab; ++i) {
      const float z = normal(rng);
      const uint64_t u = rng() % 16;
      float& x = v[static_cast<size_t>(r * n_vocab + i)];
      switch (r % 7) {
        case 0: x = z; break;
        case 1: x = std::round(z); break;
        case 2: x = -2.5f; break;
        case 3: {
          const float special[] = {-kInf, kNaN, kInf, FLT_MAX, -0.f, 0.f, -FLT_MAX, z};
          x = u < 8 ? special[u] : z;
          break;
        }
        case 4: x = u < 8 ? -kInf : kNaN; break;
        case 5: x = u < 14 ? kNaN : std::round(z); break;
        default: x = u < 6 ? -0.f : (u < 12 ? 0.f : -kInf); break;
      }
    }
  }
  return v;
}

TEST_F(GpuTest, ArgmaxRowsMatchesTheSamplerLoop) {
  for (int64_t n_vocab : {1, 7, 128, 128256}) {
    const int64_t n_rows = 21;  // every kind three times
    const auto v = make_rows(n_rows, n_vocab, static_cast<uint64_t>(n_vocab));
    DeviceBuffer dv = upload(v);
    auto out = alloc_->allocate(n_rows * 4, "ids");
    ASSERT_TRUE(out);
    ASSERT_EQ(argmax_rows(dv.as<float>(), n_rows, n_vocab, out->as<int32_t>(), stream()), cudaSuccess);
    const auto ids = download<int32_t>(*out, n_rows);
    for (int64_t r = 0; r < n_rows; ++r)
      EXPECT_EQ(ids[r], cpu_argmax(v.data() + r * n_vocab, n_vocab)) << "n_vocab " << n_vocab << " row " << r;
  }
  // The winner at the far end of a long row, and a tie between the two ends.
  std::vector<float> v(128256, 1.f);
  v.back() = 2.f;
  DeviceBuffer dv = upload(v);
  auto out = alloc_->allocate(4, "id");
  ASSERT_TRUE(out);
  ASSERT_EQ(argmax_rows(dv.as<float>(), 1, 128256, out->as<int32_t>(), stream()), cudaSuccess);
  EXPECT_EQ(download<int32_t>(*out, 1)[0], 128255);
  v.front() = 2.f;
  DeviceBuffer dv2 = upload(v);
  ASSERT_EQ(argmax_rows(dv2.as<float>(), 1, 128256, out->as<int32_t>(), stream()), cudaSuccess);
  EXPECT_EQ(download<int32_t>(*out, 1)[0], 0);
}

TEST_F(GpuTest, TopKRowsMatchesTheSamplerOrder) {
  for (int64_t n_vocab : {1, 7, 128, 128256}) {
    const int64_t n_rows = 14;
    const auto v = make_rows(n_rows, n_vocab, static_cast<uint64_t>(n_vocab) + 17);
    DeviceBuffer dv = upload(v);
    for (int k : {1, 2, 7, 40, 64}) {
      const int kk = static_cast<int>(std::min<int64_t>(k, n_vocab));
      auto ids = alloc_->allocate(n_rows * kk * 4, "ids");
      auto vals = alloc_->allocate(n_rows * kk * 4, "values");
      ASSERT_TRUE(ids && vals);
      ASSERT_EQ(top_k_rows(dv.as<float>(), n_rows, n_vocab, kk, ids->as<int32_t>(), vals->as<float>(), stream()),
                cudaSuccess);
      const auto got_ids = download<int32_t>(*ids, n_rows * kk);
      const auto got_vals = download<float>(*vals, n_rows * kk);
      for (int64_t r = 0; r < n_rows; ++r) {
        const auto want = cpu_top_k(v.data() + r * n_vocab, n_vocab, kk);
        for (int i = 0; i < kk; ++i) {
          const size_t at = static_cast<size_t>(r * kk + i);
          ASSERT_EQ(got_ids[at], want[i].first) << "n_vocab " << n_vocab << " k " << kk << " row " << r << " place " << i;
          // Bit for bit (the sampler keeps -0 as -0).
          ASSERT_EQ(std::bit_cast<uint32_t>(got_vals[at]), std::bit_cast<uint32_t>(want[i].second))
              << "n_vocab " << n_vocab << " k " << kk << " row " << r << " place " << i;
        }
      }
    }
  }
}

TEST_F(GpuTest, TopKWithoutValuesAndOnManyRows) {
  const int64_t n_rows = 512, n_vocab = 1000;
  const auto v = make_rows(n_rows, n_vocab, 9);
  DeviceBuffer dv = upload(v);
  auto ids = alloc_->allocate(n_rows * 64 * 4, "ids");
  ASSERT_TRUE(ids);
  ASSERT_EQ(top_k_rows(dv.as<float>(), n_rows, n_vocab, 64, ids->as<int32_t>(), nullptr, stream()), cudaSuccess);
  const auto got = download<int32_t>(*ids, n_rows * 64);
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto want = cpu_top_k(v.data() + r * n_vocab, n_vocab, 64);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(got[r * 64 + i], want[i].first) << "row " << r << " place " << i;
  }
}

// Shapes off the contract come back as cudaErrorInvalidValue before any launch.
TEST(SelectTopLaunchers, RejectShapesOffTheContract) {
  const auto* l = reinterpret_cast<const float*>(uintptr_t{0x10000});
  auto* ids = reinterpret_cast<int32_t*>(uintptr_t{0x20000});
  EXPECT_EQ(argmax_rows(l, 1, 0, ids, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(argmax_rows(l, -1, 10, ids, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(argmax_rows(l, 1, int64_t{1} << 31, ids, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(argmax_rows(l, 0, 10, ids, nullptr), cudaSuccess);  // no rows: nothing to do
  EXPECT_EQ(top_k_rows(l, 1, 7, 8, ids, nullptr, nullptr), cudaErrorInvalidValue);  // k > n_vocab
  EXPECT_EQ(top_k_rows(l, 1, 1000, 65, ids, nullptr, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(top_k_rows(l, 1, 1000, 0, ids, nullptr, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(top_k_rows(l, 0, 1000, 40, ids, nullptr, nullptr), cudaSuccess);
}

}  // namespace
}  // namespace tandem::gpu
