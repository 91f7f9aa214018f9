// The normals are made a block of pairs at a time: a scalar loop hashes (64-bit
// multiplies do not vectorize on baseline x86-64), then a branch-free loop turns the
// hashes into normals, which the compiler vectorizes (this file is built with
// -fno-math-errno, so sqrt needs no branch; see src/engine/CMakeLists.txt). Vector and
// scalar code give the same bits: only +, -, *, / and sqrt, each correctly rounded, in
// a fixed order.
#include "engine/random_weights.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tandem {
namespace {

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
constexpr int kBlockPairs = 64;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Pairs p0 .. p0 + kBlockPairs - 1, interleaved: out[2i] = r cos(2 pi u2), out[2i + 1] =
// r sin(2 pi u2) for pair p0 + i. out: [2 * kBlockPairs].
void normal_block(uint64_t key, uint64_t p0, float* __restrict out) {
  int32_t hi[kBlockPairs];  // top 23 bits of each hash: u1
  int32_t lo[kBlockPairs];  // low 24 bits: u2
  for (int i = 0; i < kBlockPairs; ++i) {
    const uint64_t h = mix64(key + (p0 + static_cast<uint64_t>(i) + 1) * kGamma);
    hi[i] = static_cast<int32_t>(h >> 41);
    lo[i] = static_cast<int32_t>(h & 0xFFFFFFu);
  }
  for (int i = 0; i < kBlockPairs; ++i) {
    // u1 = (hi + 0.5) / 2^23: 24 significant bits, exact in f32, in (0, 1).
    const float u1 = (static_cast<float>(hi[i]) + 0.5f) * 0x1p-23f;
    // ln u1: u1 = 2^e * m with m in [sqrt(1/2), sqrt(2)) (the offset moves the exponent
    // boundary to sqrt(1/2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
    // series to s^9: within 1e-9.
    const uint32_t bits = std::bit_cast<uint32_t>(u1) - 0x3F3504F3u;
    const int32_t e = static_cast<int32_t>(bits) >> 23;
    const float m = std::bit_cast<float>((bits & 0x7FFFFFu) + 0x3F3504F3u);
    const float s = (m - 1.0f) / (m + 1.0f);
    const float s2 = s * s;
    const float ln_m =
        s * (2.0f + s2 * (2.0f / 3 + s2 * (2.0f / 5 + s2 * (2.0f / 7 + s2 * (2.0f / 9)))));
    const float ln_u1 = static_cast<float>(e) * 0.693147181f + ln_m;
    const float r = std::sqrt(-2.0f * ln_u1) * 0.707106781f;  // times |cos|, |sin| of the base angle
    // 2 pi u2 = (q + 1/2) pi/2 + t, quadrant q in 0..3, |t| <= pi/4; Taylor series to
    // t^9 (sin) and t^8 (cos): within 3e-8.
    const float x = static_cast<float>(lo[i]) * 0x1p-22f;  // 4 u2 in [0, 4)
    const int32_t q = static_cast<int32_t>(x);
    const float t = (x - static_cast<float>(q) - 0.5f) * 1.57079633f;
    const float t2 = t * t;
    const float sin_t = t * (1.0f + t2 * (-1.0f / 6 + t2 * (1.0f / 120 + t2 * (-1.0f / 5040 +
                                                                               t2 * (1.0f / 362880)))));
    const float cos_t = 1.0f + t2 * (-0.5f + t2 * (1.0f / 24 + t2 * (-1.0f / 720 + t2 * (1.0f / 40320))));
    // Signs of cos and sin of the base angle: q = 0 (+, +), 1 (-, +), 2 (-, -), 3 (+, -).
    const uint32_t cos_sign = static_cast<uint32_t>(((q + 1) >> 1) & 1) << 31;
    const uint32_t sin_sign = static_cast<uint32_t>((q >> 1) & 1) << 31;
    const float cb = std::bit_cast<float>(std::bit_cast<uint32_t>(r) ^ cos_sign);
    const float sb = std::bit_cast<float>(std::bit_cast<uint32_t>(r) ^ sin_sign);
    out[2 * i] = cb * cos_t - sb * sin_t;
    out[2 * i + 1] = sb * cos_t + cb * sin_t;
  }
}

}  // namespace

uint64_t weight_stream_key(uint64_t seed, std::string_view tensor_name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a over the name
  for (unsigned char c : tensor_name) h = (h ^ c) * 0x100000001B3ull;
  return mix64(mix64(seed + kGamma) ^ h);
}

void normal_values(uint64_t key, uint64_t first, float* out, int64_t n) {
  constexpr uint64_t kBlockElems = 2 * kBlockPairs;
  const uint64_t end = first + static_cast<uint64_t>(n);
  uint64_t e = first;
  while (e < end) {
    const uint64_t block_first = e & ~uint64_t{1};  // element 2p of the pair holding e
    float* dst = out + (e - first);
    if (block_first == e && end - e >= kBlockElems) {
      normal_block(key, e >> 1, dst);
      e += kBlockElems;
      continue;
    }
    float tmp[kBlockElems];  // a partial block: the first or last elements of the range
    normal_block(key, e >> 1, tmp);
    const uint64_t take = std::min(end, block_first + kBlockElems) - e;
    std::copy_n(tmp + (e - block_first), take, dst);
    e += take;
  }
}

}  // namespace tandem
