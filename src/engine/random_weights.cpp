#include "engine/random_weights.h"

#include <cmath>
#include <numbers>

namespace tandem {
namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The two normals of pair p.
struct NormalPair {
  float c, s;
};

NormalPair normal_pair(uint64_t key, uint64_t p) {
  const uint64_t h = mix64(key + (p + 1) * kGamma);
  // u1 = (top 23 bits + 0.5) / 2^23: 24 significant bits, exact in f32, never 0.
  const float u1 = (static_cast<float>(h >> 41) + 0.5f) * 0x1p-23f;
  const float u2 = static_cast<float>(h & 0xFFFFFFu) * 0x1p-24f;
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float a = 2.0f * std::numbers::pi_v<float> * u2;
  return {r * std::cos(a), r * std::sin(a)};
}

}  // namespace

uint64_t weight_stream_key(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over the name
  for (unsigned char c : tensor_name) h = (h ^ c) * 0x100000001B3ull;
  return mix64(mix64(seed + kGamma) ^ h);
}

void normal_values(uint64_t key, uint64_t first, float* out, int64_t n) {
  int64_t j = 0;
  if (n > 0 && (first & 1) != 0) {  // odd start: the second half of a pair
    out[j++] = normal_pair(key, first >> 1).s;
  }
  for (; j + 1 < n; j += 2) {
    const NormalPair z = normal_pair(key, (first + static_cast<uint64_t>(j)) >> 1);
    out[j] = z.c;
    out[j + 1] = z.s;
  }
  if (j < n) out[j] = normal_pair(key, (first + static_cast<uint64_t>(j)) >> 1).c;
}

}  // namespace tandem
