// Weight quantizers for Q2_K, Q3_K, Q4_K, Q5_K and Q6_K. They follow GGML's reference
// quantizers (what llama-quantize uses without an importance matrix) operation for
// operation, so a file Tandem writes holds the bytes llama-quantize would write for the
// same floats (checked on llama-quantize's files for Q4_K/Q5_K/Q6_K in
// quant_real_data_test.cpp; the shared test data has no Q2_K/Q3_K file yet):
//
// - Q4_K/Q5_K: for each sub-block of 32, a weighted least-squares fit of (scale, min)
//   with x ~ scale * q - min, q in [0, nmax], weights w = rms(sub-block) + |x|. The fit
//   tries nstep + 1 candidate grids iscale = (nmax + rmin + rdelta * k) / (max - min)
//   and keeps the one with the least weighted squared error ("make_qkx2_quants").
//   Scales and mins are then quantized to 6 bits against the largest of each (d =
//   max_scale / 63, dmin = max_min / 63, stored f16), and every q is recomputed from
//   the quantized scale and min.
// - Q6_K: for each sub-block of 16, a symmetric fit x ~ scale * q, q in [-32, 31],
//   weighted by x^2, trying 19 grids around iscale = -32 / max ("make_qx_quants");
//   then int8 sub-block scales against d = -max_scale / 128 (f16), and q recomputed.
// - Q2_K: the Q4_K fit per sub-block of 16 with q in [0, 3], weights |x|, 16 grids
//   from iscale = (2.5 + 0.1 k) / (max - min), and the weighted *absolute* error as
//   the criterion (make_qkx2_quants with use_mad); 4-bit scales and mins against
//   d = max_scale / 15, dmin = max_min / 15 (f16), and q recomputed.
// - Q3_K: for each sub-block of 16, q = nearest(-4 x / max) clamped to [-4, 3], then
//   up to 5 sweeps that move single q to the value that raises the x^2-weighted fit
//   (sum w x q)^2 / sum w q^2 ("make_q3_quants"); 6-bit scales against
//   d = -max_scale / 32 (f16), and q recomputed.
//
// Built with -ffp-contract=off: the order of float operations decides which q wins.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int kSub = 32;                // Q4_K/Q5_K sub-block size
constexpr float kGroupMaxEps = 1e-15f;  // below this a Q6_K group counts as all zero

int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }  // ties to even

// Search parameters of the asymmetric fit.
struct AsymFit {
  int nmax;      // q in [0, nmax]
  float rmin;    // first grid offset
  float rdelta;  // grid step
  int nstep;     // grids tried: nstep + 1
  bool mad = false;  // error criterion: sum w |diff| (true) or sum w diff^2
};

// Fits x[0..n) ~ scale * L - min (min >= 0 returned in *the_min), L in [0, nmax].
// Returns scale. L receives the chosen quants.
float fit_scale_min(int n, const float* x, const float* w, uint8_t* L, float* the_min,
                    const AsymFit& p) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;  // the min term only ever subtracts
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  const float nmax = static_cast<float>(p.nmax);
  auto quant = [&](float iscale, int i) {
    return std::clamp(nearest_int(iscale * (x[i] - min)), 0, p.nmax);
  };

  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(quant(iscale, i));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_error += w[i] * (p.mad ? std::fabs(diff) : diff * diff);
  }

  uint8_t trial[kSub];
  for (int k = 0; k <= p.nstep; ++k) {
    iscale = (p.rmin + p.rdelta * static_cast<float>(k) + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = quant(iscale, i);
      trial[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    // Weighted least squares of x on (l, 1): solve for this_scale and this_min.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * static_cast<float>(trial[i]) + this_min - x[i];
      error += w[i] * (p.mad ? std::fabs(diff) : diff * diff);
    }
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *the_min = -min;
  return scale;
}

// Fits x[0..n) ~ scale * (L - nmax), L in [0, 2 nmax), weights x^2. Returns scale
// (its sign is that of -max, max the value of largest magnitude).
float fit_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  auto quant = [&](float iscale, int i) {
    return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
  };
  // sum_lx = sum w x l, sum_l2 = sum w l^2; the best scale for a grid is sum_lx / sum_l2
  // and its error falls as sum_lx^2 / sum_l2 grows.
  auto sums = [&](float iscale, float* sum_lx, float* sum_l2) {
    *sum_lx = 0;
    *sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const float l = static_cast<float>(quant(iscale, i));
      const float w = x[i] * x[i];
      *sum_lx += w * x[i] * l;
      *sum_l2 += w * l * l;
    }
  };

  float iscale = static_cast<float>(-nmax) / max;
  float sum_lx, sum_l2;
  sums(iscale, &sum_lx, &sum_l2);
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(quant(iscale, i) + nmax);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sums(iscale, &sum_lx, &sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(quant(iscale, i) + nmax);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// Fits x[0..n) ~ scale * q, q in [-nmax, nmax - 1], weights x^2: q from the grid
// iscale = -nmax / max, then up to 5 sweeps moving single q to the best value for the
// others' fit while that raises (sum w x q)^2 / sum w q^2. L receives q + nmax (all 0
// for an all-zero group). Returns scale = sum w x q / sum w q^2.
float fit_symmetric_sweeps(int n, int nmax, const float* x, int8_t* L) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * static_cast<float>(l);
    sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int sweep = 0; sweep < 5; ++sweep) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sum_lx - w * x[i] * li;  // the sums without element i
      if (!(slx > 0)) continue;
      float sl2 = sum_l2 - w * li * li;
      // The best q for element i given the others' scale sl2 / slx; the clamp of the
      // float first keeps a huge ratio (slx near 0) from overflowing the int.
      const float best = std::clamp(x[i] * sl2 / slx, -2.0f * nmax, 2.0f * nmax);
      const int new_l = std::clamp(nearest_int(best), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      const float fl = static_cast<float>(new_l);
      slx += w * x[i] * fl;
      sl2 += w * fl * fl;
      if (sl2 > 0 && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sum_lx = slx;
        sum_l2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sum_l2 > 0 ? sum_lx / sum_l2 : 0.0f;
}

// qs of a Q2_K/Q3_K block from 256 2-bit values: qs[32h + l] holds elements
// 128h + 32k + l in bits 2k, 2k+1 (k = 0..3).
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* Lh = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(Lh[0] | (Lh[32] << 2) | (Lh[64] << 4) | (Lh[96] << 6));
    }
}

// Packs 6-bit scale ls and min lm of sub-block j into the 12 scale bytes
// (the inverse of k4_scale_min). `s` must start zeroed for j >= 4's high bits.
void pack_scale_min(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = static_cast<uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
    s[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    s[j] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// Shared part of Q4_K and Q5_K: fills d, dmin, scales and L[256] (q in [0, nmax]).
void quantize_k4_block(const float* x, const AsymFit& fit, uint16_t* d_out, uint16_t* dmin_out,
                       uint8_t* scales, uint8_t* L) {
  float sub_scale[kQK_K / kSub], sub_min[kQK_K / kSub];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / kSub; ++j) {
    const float* xs = x + kSub * j;
    float sum_x2 = 0;
    for (int l = 0; l < kSub; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / kSub);
    float w[kSub];
    for (int l = 0; l < kSub; ++l) w[l] = av_x + std::fabs(xs[l]);
    sub_scale[j] = fit_scale_min(kSub, xs, w, L + kSub * j, &sub_min[j], fit);
    if (sub_scale[j] > max_scale) max_scale = sub_scale[j];
    if (sub_min[j] > max_min) max_min = sub_min[j];
  }

  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::memset(scales, 0, kKScaleBytes);
  for (int j = 0; j < kQK_K / kSub; ++j) {
    const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * sub_scale[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * sub_min[j])));
    pack_scale_min(j, ls, lm, scales);
  }
  *d_out = f32_to_fp16(max_scale / 63.f);
  *dmin_out = f32_to_fp16(max_min / 63.f);

  // Requantize against the stored (rounded) scales and mins. A sub-block whose scale
  // rounded to 0 keeps the fit's quants: they no longer matter to the values.
  const float d = fp16_to_f32(*d_out), dmin = fp16_to_f32(*dmin_out);
  for (int j = 0; j < kQK_K / kSub; ++j) {
    const ScaleMin sm = k4_scale_min(j, scales);
    const float ds = d * static_cast<float>(sm.scale);
    if (ds == 0.0f) continue;
    const float dm = dmin * static_cast<float>(sm.min);
    for (int l = 0; l < kSub; ++l) {
      const int q = nearest_int((x[kSub * j + l] + dm) / ds);
      L[kSub * j + l] = static_cast<uint8_t>(std::clamp(q, 0, fit.nmax));
    }
  }
}

constexpr AsymFit kQ2Fit{3, -0.5f, 0.1f, 15, true};
constexpr AsymFit kQ4Fit{15, -1.0f, 0.1f, 20};
constexpr AsymFit kQ5Fit{31, -0.5f, 0.1f, 15};

}  // namespace

void quantize_q2_k_ref(const float* x, BlockQ2_K* y, int64_t n) {
  constexpr int kSub2 = 16;  // Q2_K/Q3_K sub-block size
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t L[kQK_K];
    float sub_scale[kQK_K / kSub2], sub_min[kQK_K / kSub2];
    float max_scale = 0, max_min = 0;
    for (int s = 0; s < kQK_K / kSub2; ++s) {
      const float* xs = x + kSub2 * s;
      float w[kSub2];
      for (int l = 0; l < kSub2; ++l) w[l] = std::fabs(xs[l]);
      sub_scale[s] = fit_scale_min(kSub2, xs, w, L + kSub2 * s, &sub_min[s], kQ2Fit);
      if (sub_scale[s] > max_scale) max_scale = sub_scale[s];
      if (sub_min[s] > max_min) max_min = sub_min[s];
    }

    // 4-bit scale (low nibble) and min (high nibble) per sub-block.
    const float inv_scale = max_scale > 0 ? 15.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 15.f / max_min : 0.f;
    for (int s = 0; s < kQK_K / kSub2; ++s) {
      const int ls = std::clamp(nearest_int(inv_scale * sub_scale[s]), 0, 15);
      const int lm = std::clamp(nearest_int(inv_min * sub_min[s]), 0, 15);
      y[b].scales[s] = static_cast<uint8_t>(ls | (lm << 4));
    }
    y[b].d = f32_to_fp16(max_scale > 0 ? max_scale / 15.f : 0.f);
    y[b].dmin = f32_to_fp16(max_min > 0 ? max_min / 15.f : 0.f);

    // Requantize against the stored scales and mins (a sub-block whose scale is 0 keeps
    // the fit's quants, as Q4_K does).
    const float d = fp16_to_f32(y[b].d), dmin = fp16_to_f32(y[b].dmin);
    for (int s = 0; s < kQK_K / kSub2; ++s) {
      const float ds = d * static_cast<float>(y[b].scales[s] & 0x0f);
      if (ds == 0.0f) continue;
      const float dm = dmin * static_cast<float>(y[b].scales[s] >> 4);
      for (int l = 0; l < kSub2; ++l) {
        const int q = nearest_int((x[kSub2 * s + l] + dm) / ds);
        L[kSub2 * s + l] = static_cast<uint8_t>(std::clamp(q, 0, 3));
      }
    }
    pack_2bit(L, y[b].qs);
  }
}

void quantize_q3_k_ref(const float* x, BlockQ3_K* y, int64_t n) {
  constexpr int kSub2 = 16;
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    int8_t L[kQK_K];  // q + 4, 0..7
    float sub_scale[kQK_K / kSub2];
    float max_scale = 0, max_abs_scale = 0;
    for (int s = 0; s < kQK_K / kSub2; ++s) {
      sub_scale[s] = fit_symmetric_sweeps(kSub2, 4, x + kSub2 * s, L + kSub2 * s);
      if (std::fabs(sub_scale[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[s]);
        max_scale = sub_scale[s];
      }
    }

    // 6-bit scales, stored + 32: low nibbles in scales[0..7] (sub-blocks 0..7 low,
    // 8..15 high), the top 2 bits of sub-block s in bits 2 (s / 4) of scales[8 + s % 4].
    std::memset(y[b].scales, 0, sizeof(y[b].scales));
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int s = 0; s < kQK_K / kSub2; ++s) {
        const int l = std::clamp(nearest_int(iscale * sub_scale[s]), -32, 31) + 32;
        if (s < 8) {
          y[b].scales[s] = static_cast<uint8_t>(l & 0x0f);
        } else {
          y[b].scales[s - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
        }
        y[b].scales[8 + s % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (s / 4)));
      }
      y[b].d = f32_to_fp16(1 / iscale);
    } else {
      y[b].d = f32_to_fp16(0.f);
    }

    const float d = fp16_to_f32(y[b].d);
    for (int s = 0; s < kQK_K / kSub2; ++s) {
      const float ds = d * static_cast<float>(q3k_scale(s, y[b].scales));
      if (ds == 0.0f) continue;
      for (int l = 0; l < kSub2; ++l) {
        const int q = nearest_int(x[kSub2 * s + l] / ds);
        L[kSub2 * s + l] = static_cast<int8_t>(std::clamp(q, -4, 3) + 4);
      }
    }

    // The third bit of element e goes to bit e / 32 of hmask[e % 32]; qs keeps 2 bits.
    uint8_t low[kQK_K];
    std::memset(y[b].hmask, 0, sizeof(y[b].hmask));
    for (int e = 0; e < kQK_K; ++e) {
      if (L[e] > 3) y[b].hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      low[e] = static_cast<uint8_t>(L[e] & 3);
    }
    pack_2bit(low, y[b].qs);
  }
}

void quantize_q4_k_ref(const float* x, BlockQ4_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t L[kQK_K];
    quantize_k4_block(x, kQ4Fit, &y[b].d, &y[b].dmin, y[b].scales, L);
    for (int c = 0; c < kQK_K / 64; ++c)
      for (int l = 0; l < 32; ++l)
        y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void quantize_q5_k_ref(const float* x, BlockQ5_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t L[kQK_K];
    quantize_k4_block(x, kQ5Fit, &y[b].d, &y[b].dmin, y[b].scales, L);
    std::memset(y[b].qh, 0, sizeof(y[b].qh));
    for (int c = 0; c < kQK_K / 64; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        y[b].qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        y[b].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_q6_k_ref(const float* x, BlockQ6_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    int8_t L[kQK_K];
    float sub_scale[kQK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int s = 0; s < kQK_K / 16; ++s) {
      sub_scale[s] = fit_symmetric(16, 32, x + 16 * s, L + 16 * s);
      if (std::fabs(sub_scale[s]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[s]);
        max_scale = sub_scale[s];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[b], 0, sizeof(y[b]));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[b].d = f32_to_fp16(1 / iscale);
    for (int s = 0; s < kQK_K / 16; ++s)
      y[b].scales[s] = static_cast<int8_t>(std::min(127, nearest_int(iscale * sub_scale[s])));

    const float d = fp16_to_f32(y[b].d);
    for (int s = 0; s < kQK_K / 16; ++s) {
      const float ds = d * static_cast<float>(y[b].scales[s]);
      if (ds == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        const int q = nearest_int(x[16 * s + l] / ds);
        L[16 * s + l] = static_cast<int8_t>(std::clamp(q, -32, 31) + 32);
      }
    }

    // Pack: see the Q6_K element order in quant_k_ref.cpp.
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      uint8_t* ql = y[b].ql + 64 * h;
      uint8_t* qh = y[b].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int q0 = Lh[l], q1 = Lh[l + 32], q2 = Lh[l + 64], q3 = Lh[l + 96];
        ql[l] = static_cast<uint8_t>((q0 & 0x0f) | ((q2 & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
      }
    }
  }
}

}  // namespace tandem::cpu
