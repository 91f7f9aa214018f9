// The arithmetic of the GPU argmax and top-k (select_top.cuh) that needs no GPU, written
// once for two compilers (TANDEM_HD, see dequant_common.h); the kernels call these very
// functions and tests/gpu_host runs a host model of each kernel built from them.
//
// Both kernels compare logits through an order key: a u32 that grows with the float, so
// integer comparisons (and radix digits) order logits. The rules are the CPU sampler's
// (engine/sampler.cpp), so the GPU picks the same token:
//  - argmax (sampling::argmax): NaN counts as -inf (never wins), +inf beats every finite
//    value, -0 equals +0, ties go to the lowest index; all -inf/NaN gives index 0.
//  - top-k (Sampler's candidates, then sampling::sort_top): each logit is first
//    sanitized (NaN -> -inf, +inf -> FLT_MAX, as the sampler's sanitize()), then ordered
//    by value descending, ties (-0 == +0 included) by ascending index.
//
// Top-k is a radix select over the keys: 4 passes of 8-bit digits, most significant
// first. Pass p histograms the digit of the keys whose higher digits equal the prefix
// chosen so far, then takes the highest digit whose bin, counted from the top, reaches
// the `remaining` elements still wanted (pick_digit). After the last pass the prefix is
// the k-th largest key T, and `remaining` says how many elements equal to T belong to
// the top k (the lowest-indexed ones); every key > T belongs to it.
#pragma once

#include <cfloat>
#include <cstdint>
#include <cstring>

#include "gpu/cuda/dequant_common.h"  // TANDEM_HD, TANDEM_UNROLL

namespace tandem::gpu::select {

inline constexpr int kThreads = 512;      // threads of an argmax / top-k CTA (one row each)
inline constexpr int kMaxK = 64;          // the largest k of top_k_rows
inline constexpr int kDigitBits = 8;
inline constexpr int kBins = 1 << kDigitBits;  // 256
inline constexpr int kPasses = 32 / kDigitBits;
inline constexpr int kBinsPerLane = kBins / 32;  // pick_digit runs on one warp

TANDEM_HD uint32_t float_bits(float v) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, sizeof(u));
  return u;
#endif
}

TANDEM_HD float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
#endif
}

TANDEM_HD bool is_nan(float v) { return (float_bits(v) & 0x7fffffffu) > 0x7f800000u; }

// The order key of a non-NaN float: negative floats map below positive ones, larger
// magnitude lower; -0 maps to +0's key so the two tie. key(a) < key(b) iff a < b.
TANDEM_HD uint32_t order_key(float v) {
  uint32_t u = float_bits(v);
  if (u == 0x80000000u) u = 0;  // -0 -> +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

inline constexpr uint32_t kKeyMinusInf = 0x007fffffu;  // order_key(-inf) = ~0xff800000

// argmax: NaN is -inf; +inf stays above FLT_MAX.
TANDEM_HD uint32_t argmax_key(float v) { return is_nan(v) ? kKeyMinusInf : order_key(v); }

// The sampler's sanitize(): NaN -> -inf, +inf -> FLT_MAX, everything else as is (-0 too).
TANDEM_HD float topk_sanitize(float v) {
  if (is_nan(v)) return bits_float(0xff800000u);
  if (float_bits(v) == 0x7f800000u) return FLT_MAX;
  return v;
}

TANDEM_HD uint32_t topk_key(float v) { return order_key(topk_sanitize(v)); }

// argmax as one u64 max: the key above, the complement of the index below, so the
// larger key wins and among equal keys the lower index.
TANDEM_HD uint64_t argmax_pack(uint32_t key, uint32_t index) {
  return (static_cast<uint64_t>(key) << 32) | static_cast<uint64_t>(0xffffffffu - index);
}
TANDEM_HD uint32_t argmax_index(uint64_t packed) { return 0xffffffffu - static_cast<uint32_t>(packed); }

// The top-k order: a before b iff a's key is larger, or equal with a lower index.
TANDEM_HD bool ranks_before(uint32_t key_a, int64_t index_a, uint32_t key_b, int64_t index_b) {
  return key_a > key_b || (key_a == key_b && index_a < index_b);
}

// ---- radix select --------------------------------------------------------------------

TANDEM_HD int digit_shift(int pass) { return 32 - kDigitBits * (pass + 1); }  // 24, 16, 8, 0
TANDEM_HD uint32_t digit_of(uint32_t key, int pass) { return (key >> digit_shift(pass)) & (kBins - 1); }
// Bits of the digits chosen before pass `pass`.
TANDEM_HD uint32_t prefix_mask(int pass) {
  return pass == 0 ? 0u : ~((1u << (32 - kDigitBits * pass)) - 1u);
}
// Whether `key` is still a candidate in pass `pass`: its higher digits equal prefix's.
TANDEM_HD bool matches_prefix(uint32_t key, uint32_t prefix, int pass) {
  return (key & prefix_mask(pass)) == (prefix & prefix_mask(pass));
}

struct DigitPick {
  uint32_t digit = 0;
  uint32_t remaining = 0;  // elements still wanted among the keys with this digit
};

// One warp finds the digit: lane l owns the bins 255 - 8l down to 248 - 8l (descending
// order across lanes). lane_count is the lane's total; `above` the count in the bins of
// lanes before it (an exclusive warp scan of lane_count). The one lane with
// above < remaining <= above + lane_count holds the digit and returns true.
TANDEM_HD int lane_bin(int lane, int j) { return kBins - 1 - kBinsPerLane * lane - j; }

TANDEM_HD uint32_t lane_count(const uint32_t* hist, int lane) {
  uint32_t n = 0;
  TANDEM_UNROLL
  for (int j = 0; j < kBinsPerLane; ++j) n += hist[lane_bin(lane, j)];
  return n;
}

TANDEM_HD bool lane_pick(const uint32_t* hist, int lane, uint32_t above, uint32_t remaining, DigitPick* out) {
  if (!(above < remaining && remaining - above <= lane_count(hist, lane))) return false;
  uint32_t cum = above;
  for (int j = 0; j < kBinsPerLane; ++j) {
    const int b = lane_bin(lane, j);
    if (remaining - cum <= hist[b]) {
      *out = DigitPick{static_cast<uint32_t>(b), remaining - cum};
      return true;
    }
    cum += hist[b];
  }
  return false;  // unreachable: lane_count covered remaining - above
}

// Shape contract of argmax_rows / top_k_rows (false: cudaErrorInvalidValue).
TANDEM_HD bool select_shape_ok(int64_t n_rows, int64_t n_vocab, int32_t k) {
  return n_rows >= 0 && n_rows <= 0x7fffffff && n_vocab >= 1 && n_vocab <= 0x7fffffff && k >= 1 && k <= kMaxK &&
         k <= n_vocab;
}

}  // namespace tandem::gpu::select
