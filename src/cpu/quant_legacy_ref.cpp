// Reference kernels for the legacy block types (32 elements a block): Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0 and the activation type Q8_1.
//
// Element order inside a 4/5-bit block: byte j of qs holds element j in its low nibble
// and element j + 16 in its high nibble. Q5 types keep the 5th bit in qh (a u32,
// little-endian): bit j for element j, bit j + 16 for element j + 16.
//
// The float arithmetic mirrors GGML's reference code step for step (same operations,
// same order, no fused multiply-add: this file is built with -ffp-contract=off), so the
// quantizers produce the same bytes and the dequantizers the same floats.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/fp16.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kHalf = kQK / 2;  // 16: elements per nibble half

uint32_t load_qh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, sizeof(v));  // GGUF is little-endian, and so are our targets
  return v;
}

// The 5-bit value of element j (0..31) of a Q5 block.
int q5_value(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < kHalf ? (qs[j] & 0x0f) : (qs[j - kHalf] >> 4);
  return low | static_cast<int>(((qh >> j) & 1u) << 4);
}

// Signed value of largest magnitude in x[0..n) (the first one on ties); 0 if all zero.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

struct MinMax {
  float min, max;
};
MinMax min_max(const float* x, int n) {
  MinMax r{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()};
  for (int j = 0; j < n; ++j) {
    r.min = std::min(r.min, x[j]);
    r.max = std::max(r.max, x[j]);
  }
  return r;
}

float absmax(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

}  // namespace

// ---- dequantize ---------------------------------------------------------------------

void dequantize_q4_0_ref(const BlockQ4_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0x0f) - 8) * d;
      y[j + kHalf] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1_ref(const BlockQ4_1* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    const float m = fp16_to_f32(x[b].m);
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>(x[b].qs[j] & 0x0f) * d + m;
      y[j + kHalf] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0_ref(const BlockQ5_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    const uint32_t qh = load_qh(x[b].qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_value(x[b].qs, qh, j) - 16) * d;
  }
}

void dequantize_q5_1_ref(const BlockQ5_1* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    const float m = fp16_to_f32(x[b].m);
    const uint32_t qh = load_qh(x[b].qh);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(q5_value(x[b].qs, qh, j)) * d + m;
  }
}

void dequantize_q8_0_ref(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

void dequantize_q8_1_ref(const BlockQ8_1* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

// ---- quantize -----------------------------------------------------------------------

// d = max / -8 maps the signed extreme to q = 0; q = min(15, trunc(x/d + 8.5)).
void quantize_q4_0_ref(const float* x, BlockQ4_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = signed_absmax(x, kQK) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kHalf] * id + 8.5f)));
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// d = (max - min) / 15, m = min; q = min(15, trunc((x - min)/d + 0.5)).
void quantize_q4_1_ref(const float* x, BlockQ4_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const MinMax mm = min_max(x, kQK);
    const float d = (mm.max - mm.min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    y[b].m = f32_to_fp16(mm.min);
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - mm.min) * id + 0.5f)));
      const int q1 =
          std::min(15, static_cast<int>(static_cast<int8_t>((x[j + kHalf] - mm.min) * id + 0.5f)));
      y[b].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// d = max / -16; q = min(31, trunc(x/d + 16.5)).
void quantize_q5_0_ref(const float* x, BlockQ5_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = signed_absmax(x, kQK) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
      const int q1 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + kHalf] * id + 16.5f)));
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + kHalf);
    }
    std::memcpy(y[b].qh, &qh, sizeof(qh));
  }
}

// d = (max - min) / 31, m = min; q = trunc((x - min)/d + 0.5) (at most 31 by construction).
void quantize_q5_1_ref(const float* x, BlockQ5_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const MinMax mm = min_max(x, kQK);
    const float d = (mm.max - mm.min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    y[b].m = f32_to_fp16(mm.min);
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
      const int q0 = static_cast<uint8_t>((x[j] - mm.min) * id + 0.5f);
      const int q1 = static_cast<uint8_t>((x[j + kHalf] - mm.min) * id + 0.5f);
      y[b].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kHalf);
    }
    std::memcpy(y[b].qh, &qh, sizeof(qh));
  }
}

void quantize_q8_0_ref(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = absmax(x, kQK) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quantize_q8_1_ref(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = absmax(x, kQK) / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].s = f32_to_fp16(static_cast<float>(sum) * d);
  }
}

// ---- dot products -------------------------------------------------------------------

float vec_dot_q4_0_q8_0_ref(int64_t n, const BlockQ4_0* w, const BlockQ8_0* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
      isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + kHalf];
    }
    sum += (fp16_to_f32(w[b].d) * fp16_to_f32(x[b].d)) * static_cast<float>(isum);
  }
  return sum;
}

// sum_j (d_w q_j + m_w)(d_x p_j) = d_w d_x sum_j q_j p_j + m_w * (d_x sum_j p_j), and
// the last factor is the activation block's stored s.
float vec_dot_q4_1_q8_1_ref(int64_t n, const BlockQ4_1* w, const BlockQ8_1* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += (w[b].qs[j] & 0x0f) * x[b].qs[j];
      isum += (w[b].qs[j] >> 4) * x[b].qs[j + kHalf];
    }
    sum += (fp16_to_f32(w[b].d) * fp16_to_f32(x[b].d)) * static_cast<float>(isum) +
           fp16_to_f32(w[b].m) * fp16_to_f32(x[b].s);
  }
  return sum;
}

float vec_dot_q5_0_q8_0_ref(int64_t n, const BlockQ5_0* w, const BlockQ8_0* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint32_t qh = load_qh(w[b].qh);
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (q5_value(w[b].qs, qh, j) - 16) * x[b].qs[j];
    sum += (fp16_to_f32(w[b].d) * fp16_to_f32(x[b].d)) * static_cast<float>(isum);
  }
  return sum;
}

float vec_dot_q5_1_q8_1_ref(int64_t n, const BlockQ5_1* w, const BlockQ8_1* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint32_t qh = load_qh(w[b].qh);
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += q5_value(w[b].qs, qh, j) * x[b].qs[j];
    sum += (fp16_to_f32(w[b].d) * fp16_to_f32(x[b].d)) * static_cast<float>(isum) +
           fp16_to_f32(w[b].m) * fp16_to_f32(x[b].s);
  }
  return sum;
}

float vec_dot_q8_0_q8_0_ref(int64_t n, const BlockQ8_0* w, const BlockQ8_0* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += w[b].qs[j] * x[b].qs[j];
    sum += (fp16_to_f32(w[b].d) * fp16_to_f32(x[b].d)) * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace tandem::cpu
