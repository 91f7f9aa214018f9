// GPU RoPE against cpu::rope_ref: both styles, full and partial rotation, Llama 3.1
// frequency factors, tokens at scattered positions, f32 and f16.
#include <gtest/gtest.h>

#include "cpu/ops_ref.h"
#include "gpu/cuda/rope.cuh"
#include "gpu_test_util.h"

namespace tandem::gpu {
namespace {

using testing::GpuTest;

// theta is computed exactly as the reference does; only cosf/sinf (2 ulp) differ.
constexpr float kRopeAbs = 1e-5f;
constexpr float kF16Rel = 1e-3f;

struct RopeCase {
  int32_t n_tokens, n_heads, head_dim, n_rot;
  RopeStyle style;
  bool factors;
};

std::string name(const RopeCase& c) {
  return "tokens=" + std::to_string(c.n_tokens) + " heads=" + std::to_string(c.n_heads) + " head_dim=" +
         std::to_string(c.head_dim) + " n_rot=" + std::to_string(c.n_rot) +
         (c.style == RopeStyle::kNeox ? " neox" : " normal") + (c.factors ? " factors" : "");
}

const RopeCase kCases[] = {
    {1, 1, 64, 64, RopeStyle::kNormal, false},  {5, 3, 64, 64, RopeStyle::kNeox, false},
    {7, 8, 128, 128, RopeStyle::kNormal, true}, {7, 8, 128, 128, RopeStyle::kNeox, true},
    {3, 2, 128, 32, RopeStyle::kNormal, false}, {3, 2, 128, 32, RopeStyle::kNeox, false},
};

// Runs the reference over every token; x is [n_tokens, n_heads, head_dim].
std::vector<float> reference(std::vector<float> x, const RopeCase& c, const std::vector<int32_t>& pos,
                             const std::vector<float>& factors) {
  cpu::RopeParams p;
  p.n_rot = c.n_rot;
  p.freq_base = 500000.f;
  p.freq_scale = 1.f;
  p.style = c.style == RopeStyle::kNeox ? cpu::RopeStyle::kNeox : cpu::RopeStyle::kNormal;
  p.freq_factors = c.factors ? factors.data() : nullptr;
  const int64_t row = static_cast<int64_t>(c.n_heads) * c.head_dim;
  for (int32_t t = 0; t < c.n_tokens; ++t) cpu::rope_ref(x.data() + t * row, c.n_heads, c.head_dim, pos[t], p);
  return x;
}

struct Inputs {
  std::vector<float> x;
  std::vector<int32_t> pos;
  std::vector<float> factors;
};

Inputs inputs(const RopeCase& c, uint64_t seed) {
  Inputs in;
  in.x = testing::random_floats(static_cast<size_t>(c.n_tokens) * c.n_heads * c.head_dim, seed);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (int32_t t = 0; t < c.n_tokens; ++t) in.pos.push_back(static_cast<int32_t>(rng() % 8192));  // any order
  for (int32_t i = 0; i < c.n_rot / 2; ++i) in.factors.push_back(1.f + static_cast<float>(rng() % 700) / 100.f);
  return in;
}

RopeArgs args(const RopeCase& c, const DeviceBuffer& pos, const DeviceBuffer& factors) {
  RopeArgs a;
  a.n_tokens = c.n_tokens;
  a.n_heads = c.n_heads;
  a.head_dim = c.head_dim;
  a.n_rot = c.n_rot;
  a.freq_base = 500000.f;
  a.style = c.style;
  a.positions = pos.as<int32_t>();
  a.freq_factors = c.factors ? factors.as<float>() : nullptr;
  return a;
}

TEST_F(GpuTest, RopeF32MatchesReference) {
  uint64_t seed = 1;
  for (const RopeCase& c : kCases) {
    const Inputs in = inputs(c, seed++);
    DeviceBuffer dx = upload(in.x), dpos = upload(in.pos), df = upload(in.factors);
    ASSERT_EQ(rope_f32(dx.as<float>(), args(c, dpos, df), stream()), cudaSuccess) << name(c);
    testing::expect_close(download<float>(dx, in.x.size()), reference(in.x, c, in.pos, in.factors), kRopeAbs, 0.f,
                          name(c));
  }
}

TEST_F(GpuTest, RopeF16MatchesReference) {
  uint64_t seed = 100;
  for (const RopeCase& c : kCases) {
    const Inputs in = inputs(c, seed++);
    const auto xh = testing::to_f16(in.x);
    DeviceBuffer dx = upload(xh), dpos = upload(in.pos), df = upload(in.factors);
    ASSERT_EQ(rope_f16(dx.as<__half>(), args(c, dpos, df), stream()), cudaSuccess) << name(c);
    const auto ref = testing::from_f16(testing::to_f16(reference(testing::from_f16(xh), c, in.pos, in.factors)));
    testing::expect_close(testing::from_f16(download<uint16_t>(dx, xh.size())), ref, 1e-4f, kF16Rel, "f16 " + name(c));
  }
}

}  // namespace
}  // namespace tandem::gpu
