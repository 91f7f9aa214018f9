// Reference kernels for the K-quant super-blocks (256 elements): dequantization and
// dot products of Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K, and the Q8_K activation
// quantizer. The weight quantizers live in quant_k_quantize_ref.cpp.
//
// Element order (as GGML lays it out):
// - Q2_K/Q3_K: 16 sub-blocks of 16; sub-block e / 16 holds element e. Each half h (128
//   elements) uses qs[32h .. 32h+31]; for k = 0..3 and l = 0..31, element 128h + 32k + l
//   is bits 2k, 2k+1 of qs[32h + l].
//   Q2_K: scales[s] low nibble = scale, high nibble = min; x = d * scale * q - dmin * min.
//   Q3_K: the third bit of element e is bit e / 32 of hmask[e % 32]; q = (low 2 bits)
//   - 4 where that bit is clear, so q in -4..3; x = d * q3k_scale(s) * q.
// - Q4_K/Q5_K: 8 sub-blocks of 32 with 6-bit scale and min (k4_scale_min). Each run of
//   64 elements (chunk c = 0..3) uses qs[32c .. 32c+31]: low nibbles are elements
//   64c + 0..31 (sub-block 2c), high nibbles 64c + 32..63 (sub-block 2c+1).
//   x = d * scale * q - dmin * min. Q5_K adds 16 when bit (2c) of qh[l] (low half) or
//   bit (2c+1) of qh[l] (high half) is set, for l = 0..31.
// - Q6_K: 16 sub-blocks of 16 with int8 scales; scales[e / 16] belongs to element e.
//   Each half h (128 elements) uses ql[64h .. 64h+63] and qh[32h .. 32h+31]; for
//   l = 0..31: element 128h + l      = ql[l] low nibble  | qh[l] bits 0-1 << 4,
//              element 128h + l + 32 = ql[l+32] low     | qh[l] bits 2-3 << 4,
//              element 128h + l + 64 = ql[l] high       | qh[l] bits 4-5 << 4,
//              element 128h + l + 96 = ql[l+32] high    | qh[l] bits 6-7 << 4,
//   x = d * scale * (q - 32).
// - Q8_K: x = d * q with an f32 d; bsums[g] = sum of q[16g .. 16g+15].
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kSub = 32;  // Q4_K/Q5_K sub-block size

// The 4-bit value of element e (0..255) of a Q4_K/Q5_K block's qs.
int k4_nibble(const uint8_t* qs, int e) {
  const int chunk = e / 64, within = e % 64;
  const uint8_t byte = qs[32 * chunk + within % 32];
  return within < 32 ? (byte & 0x0f) : (byte >> 4);
}

// The 5th bit (0 or 16) of element e of a Q5_K block.
int q5k_high(const uint8_t* qh, int e) {
  const int chunk = e / 64, within = e % 64;
  const int bit = 2 * chunk + (within < 32 ? 0 : 1);
  return ((qh[within % 32] >> bit) & 1) << 4;
}

// The 6-bit value (0..63, before the -32 offset) of element e of a Q6_K block.
int q6k_value(const BlockQ6_K& b, int e) {
  const int half = e / 128, within = e % 128;
  const int quarter = within / 32, l = within % 32;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const uint8_t low_byte = ql[l + (quarter & 1) * 32];
  const int low = quarter < 2 ? (low_byte & 0x0f) : (low_byte >> 4);
  const int high = (qh[l] >> (2 * quarter)) & 3;
  return low | (high << 4);
}

// The 2-bit value (0..3) of element e of a Q2_K/Q3_K block's qs.
int k23_low2(const uint8_t* qs, int e) {
  const int half = e / 128, within = e % 128;
  return (qs[32 * half + within % 32] >> (2 * (within / 32))) & 3;
}

// The signed value (-4..3) of element e of a Q3_K block.
int q3k_value(const BlockQ3_K& b, int e) {
  const bool high = ((b.hmask[e % 32] >> (e / 32)) & 1) != 0;
  return k23_low2(b.qs, e) - (high ? 0 : 4);
}

// Round to nearest, ties to even (the default rounding mode), as GGML's nearest_int.
int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }

}  // namespace

// ---- dequantize ---------------------------------------------------------------------

void dequantize_q2_k_ref(const BlockQ2_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    for (int s = 0; s < kQK_K / 16; ++s) {
      const float ds = d * static_cast<float>(x[b].scales[s] & 0x0f);
      const float dm = dmin * static_cast<float>(x[b].scales[s] >> 4);
      for (int e = 16 * s; e < 16 * s + 16; ++e)
        y[e] = ds * static_cast<float>(k23_low2(x[b].qs, e)) - dm;
    }
  }
}

void dequantize_q3_k_ref(const BlockQ3_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_f32(x[b].d);
    for (int s = 0; s < kQK_K / 16; ++s) {
      const float ds = d * static_cast<float>(q3k_scale(s, x[b].scales));
      for (int e = 16 * s; e < 16 * s + 16; ++e) y[e] = ds * static_cast<float>(q3k_value(x[b], e));
    }
  }
}

void dequantize_q4_k_ref(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    for (int j = 0; j < kQK_K / kSub; ++j) {
      const ScaleMin sm = k4_scale_min(j, x[b].scales);
      const float ds = d * static_cast<float>(sm.scale);
      const float dm = dmin * static_cast<float>(sm.min);
      for (int l = 0; l < kSub; ++l) {
        const int e = kSub * j + l;
        y[e] = ds * static_cast<float>(k4_nibble(x[b].qs, e)) - dm;
      }
    }
  }
}

void dequantize_q5_k_ref(const BlockQ5_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_f32(x[b].d);
    const float dmin = fp16_to_f32(x[b].dmin);
    for (int j = 0; j < kQK_K / kSub; ++j) {
      const ScaleMin sm = k4_scale_min(j, x[b].scales);
      const float ds = d * static_cast<float>(sm.scale);
      const float dm = dmin * static_cast<float>(sm.min);
      for (int l = 0; l < kSub; ++l) {
        const int e = kSub * j + l;
        const int q = k4_nibble(x[b].qs, e) + q5k_high(x[b].qh, e);
        y[e] = ds * static_cast<float>(q) - dm;
      }
    }
  }
}

void dequantize_q6_k_ref(const BlockQ6_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    const float d = fp16_to_f32(x[b].d);
    for (int e = 0; e < kQK_K; ++e) {
      const int q = q6k_value(x[b], e) - 32;
      y[e] = d * static_cast<float>(x[b].scales[e / 16]) * static_cast<float>(q);
    }
  }
}

void dequantize_q8_k_ref(const BlockQ8_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K)
    for (int e = 0; e < kQK_K; ++e) y[e] = x[b].d * static_cast<float>(x[b].qs[e]);
}

// ---- Q8_K activation quantizer ------------------------------------------------------

void quantize_q8_k_ref(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float amax = 0.0f, max = 0.0f;  // max: the value of largest magnitude, sign kept
    for (int e = 0; e < kQK_K; ++e) {
      if (std::fabs(x[e]) > amax) {
        amax = std::fabs(x[e]);
        max = x[e];
      }
    }
    if (amax == 0.0f) {
      y[b].d = 0.0f;
      std::memset(y[b].qs, 0, sizeof(y[b].qs));
      std::memset(y[b].bsums, 0, sizeof(y[b].bsums));
      continue;
    }
    // The negative sign maps max to -127 (and -max to +127, clamped when it rounds over).
    const float iscale = -127.0f / max;
    for (int e = 0; e < kQK_K; ++e)
      y[b].qs[e] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[e])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int e = 0; e < 16; ++e) sum += y[b].qs[16 * g + e];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

// ---- dot products -------------------------------------------------------------------
// Per super-block: isum = sum over sub-blocks of scale * (int dot of the sub-block);
// the mins use the activation's bsums: summ = sum_j min_j * (bsums[2j] + bsums[2j+1]).
// sumf += (d_w * d_x) * isum - (dmin_w * d_x) * summ.

// Q2_K: the same with 16 sub-blocks of 16, so summ = sum_s min_s * bsums[s].
float vec_dot_q2_k_q8_k_ref(int64_t n, const BlockQ2_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0, summ = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      int32_t sub = 0;
      for (int e = 16 * s; e < 16 * s + 16; ++e) sub += k23_low2(w[b].qs, e) * x[b].qs[e];
      isum += (w[b].scales[s] & 0x0f) * sub;
      summ += (w[b].scales[s] >> 4) * x[b].bsums[s];
    }
    const float d = fp16_to_f32(w[b].d) * x[b].d;
    const float dmin = fp16_to_f32(w[b].dmin) * x[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(summ);
  }
  return sum;
}

// Q3_K (as Q6_K): isum = sum_s scale_s * sum over sub-block s of q x, q in -4..3;
// sum += (d_w * d_x) * isum.
float vec_dot_q3_k_q8_k_ref(int64_t n, const BlockQ3_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      int32_t sub = 0;
      for (int e = 16 * s; e < 16 * s + 16; ++e) sub += q3k_value(w[b], e) * x[b].qs[e];
      isum += q3k_scale(s, w[b].scales) * sub;
    }
    sum += (fp16_to_f32(w[b].d) * x[b].d) * static_cast<float>(isum);
  }
  return sum;
}

float vec_dot_q4_k_q8_k_ref(int64_t n, const BlockQ4_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0, summ = 0;
    for (int j = 0; j < kQK_K / kSub; ++j) {
      const ScaleMin sm = k4_scale_min(j, w[b].scales);
      int32_t sub = 0;
      for (int l = 0; l < kSub; ++l) {
        const int e = kSub * j + l;
        sub += k4_nibble(w[b].qs, e) * x[b].qs[e];
      }
      isum += sm.scale * sub;
      summ += sm.min * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
    }
    const float d = fp16_to_f32(w[b].d) * x[b].d;
    const float dmin = fp16_to_f32(w[b].dmin) * x[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(summ);
  }
  return sum;
}

float vec_dot_q5_k_q8_k_ref(int64_t n, const BlockQ5_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0, summ = 0;
    for (int j = 0; j < kQK_K / kSub; ++j) {
      const ScaleMin sm = k4_scale_min(j, w[b].scales);
      int32_t sub = 0;
      for (int l = 0; l < kSub; ++l) {
        const int e = kSub * j + l;
        sub += (k4_nibble(w[b].qs, e) + q5k_high(w[b].qh, e)) * x[b].qs[e];
      }
      isum += sm.scale * sub;
      summ += sm.min * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
    }
    const float d = fp16_to_f32(w[b].d) * x[b].d;
    const float dmin = fp16_to_f32(w[b].dmin) * x[b].d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(summ);
  }
  return sum;
}

float vec_dot_q6_k_q8_k_ref(int64_t n, const BlockQ6_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      int32_t sub = 0;
      for (int e = 16 * s; e < 16 * s + 16; ++e) sub += (q6k_value(w[b], e) - 32) * x[b].qs[e];
      isum += w[b].scales[s] * sub;
    }
    sum += (fp16_to_f32(w[b].d) * x[b].d) * static_cast<float>(isum);
  }
  return sum;
}

float vec_dot_q8_k_q8_k_ref(int64_t n, const BlockQ8_K* w, const BlockQ8_K* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int32_t isum = 0;
    for (int e = 0; e < kQK_K; ++e) isum += w[b].qs[e] * x[b].qs[e];
    sum += (w[b].d * x[b].d) * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace tandem::cpu
