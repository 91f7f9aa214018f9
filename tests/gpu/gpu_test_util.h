// Shared pieces of the GPU tests: a fixture that skips without a CUDA device and moves
// vectors to and from the device, random inputs, and a comparison that names the case
// and the first mismatches (llm.c's validate_result, without the exit).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "gpu/cuda/copy.h"
#include "gpu/cuda/cuda_allocator.h"
#include "gpu/cuda/device.h"
#include "gpu/cuda/stream.h"

namespace tandem::gpu::testing {

class GpuTest : public ::testing::Test {
 public:
  void SetUp() override {
    auto n = device_count();
    if (!n) GTEST_SKIP() << "no CUDA device: " << n.error().message();
    alloc_ = std::make_unique<CudaAllocator>(0, UINT64_MAX / 2, "test GPU");
    auto s = CudaStream::create();
    ASSERT_TRUE(s) << s.error().message();
    stream_ = std::move(*s);
  }

  template <typename T>
  DeviceBuffer upload(const std::vector<T>& v) {
    auto b = alloc_->allocate(std::max<uint64_t>(v.size() * sizeof(T), 1), "test data");
    EXPECT_TRUE(b) << b.error().message();
    if (!b) return {};
    const Status st = copy_to_device(b->data(), v.data(), v.size() * sizeof(T), stream_.get());
    EXPECT_TRUE(st) << st.error().message();
    return std::move(*b);
  }

  template <typename T>
  std::vector<T> download(const DeviceBuffer& b, size_t n) {
    std::vector<T> v(n);
    const Status st = copy_to_host(v.data(), b.data(), n * sizeof(T), stream_.get());
    EXPECT_TRUE(st) << st.error().message();
    sync();
    return v;
  }

  void sync() {
    const Status st = stream_.synchronize();
    EXPECT_TRUE(st) << st.error().message();
  }

  cudaStream_t stream() const { return stream_.get(); }

  std::unique_ptr<CudaAllocator> alloc_;
  CudaStream stream_;
};

inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Activations as a model has them: N(0, 1) with a few large outliers.
inline std::vector<float> random_floats_for(size_t n, uint64_t seed) {
  std::vector<float> v = random_floats(n, seed);
  for (size_t i = 0; i < n; i += 97) v[i] *= 20.f;
  return v;
}

inline std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_fp16(v[i]);
  return h;
}

inline std::vector<float> from_f16(const std::vector<uint16_t>& h) {
  std::vector<float> v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = fp16_to_f32(h[i]);
  return v;
}

// |gpu - ref| <= abs + rel * |ref| everywhere; on failure names `what`, the count and
// the first five mismatches.
inline void expect_close(const std::vector<float>& gpu, const std::vector<float>& ref, float abs, float rel,
                         const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < ref.size(); ++i) {
    const float tol = abs + rel * std::fabs(ref[i]);
    if (!(std::fabs(gpu[i] - ref[i]) <= tol)) {
      if (++bad <= 5)
        first += "\n  [" + std::to_string(i) + "] gpu " + std::to_string(gpu[i]) + " cpu " + std::to_string(ref[i]);
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << ref.size() << " outside " << abs << " + " << rel
                     << " * |ref|" << first;
}

}  // namespace tandem::gpu::testing
