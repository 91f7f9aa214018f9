// Lookup-table GEMV for Q4_0 weights (the T-MAC idea) on AVX-512: the weights are
// re-laid out once into bit planes, each activation block is turned into tables of
// subset sums, and the kernel adds table entries instead of multiplying.
//
// Q4_0: w = d_w * (q - 8), q = b0 + 2 b1 + 4 b2 + 8 b3 (bit planes b_k). For a group
// of 4 activations x_4g .. x_4g+3 and a 4-bit pattern m, T_g[m] = sum_{i: bit i of m}
// x_4g+i, so a block's integer dot product is
//   isum = sum_k 2^k sum_{g<8} T_g[plane k's 4 bits of group g] - 8 sum(x).
// The entries of T_g (up to 4 * 128) do not fit a byte, so each x (int8) is split as
// x = 16 xh + xl, xl = x & 15 in [0, 15], xh = x >> 4 in [-8, 7], and each group gets
// two byte tables, TL (sums of xl, in [0, 60]) and TH (sums of xh, in [-32, 28]).
// Lookups of two groups still fit a byte when added (TL: <= 120 unsigned, TH: within
// [-64, 56] signed), and vpdpbusd weighs the four planes' bytes of a row by 2^k (TL)
// and 16 * 2^k (TH) into its int32 lane. The integer sum is exact, and the f32
// term (d_w * d_x) * isum is added to the row's sum in block order without FMA, as in
// vec_dot_q4_0_q8_0_ref: results are bit-identical to vec_dot_ref(kQ4_0, ...).
//
// The lookups are vpermb (AVX-512 VBMI) on 64-byte tables that hold the 16 entries
// four times: vpermb reads only the low 6 bits of an index byte, so a byte holding two
// 4-bit patterns indexes the low one as it is and the high one after a 4-bit shift,
// with no masking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"
#include "cpu/isa.h"

namespace tandem::cpu {

constexpr int kLutRows = 16;  // rows per group: int32/f32 lane r of the kernel = row 16g + r

// Bytes of one block column (32 columns) of a 16-row group:
//   [0, 32)    d[16]: f16 scale of row r's block (0 for missing rows)
//   [32, 288)  4 chunks of 64 bytes; chunk j covers elements 8j .. 8j+7 of the block
//              (groups 2j and 2j+1). Byte 4r + k of chunk j = bit plane k of row r:
//              low nibble bit i = bit k of q[8j + i], high nibble bit i = bit k of
//              q[8j + 4 + i] (i < 4), q[e] the 4-bit quant of element e in Q4_0's
//              order (e < 16: low nibble of qs[e], else high nibble of qs[e - 16]).
// The same size as the Q4_0 blocks it holds (16 x 18 bytes).
constexpr size_t kLutBlockBytes = 2 * kLutRows + 4 * 64;

struct LutFree {
  void operator()(std::byte* p) const;
};

// Q4_0 weights in bit planes (layout above).
struct LutMatrix {
  int64_t rows = 0;
  int64_t cols = 0;          // a multiple of 32
  int64_t groups = 0;        // ceil(rows / kLutRows); missing rows of the last are zero
  size_t group_bytes = 0;    // (cols / 32) * kLutBlockBytes: one group, all block columns
  std::unique_ptr<std::byte[], LutFree> data;  // [groups][cols / 32][kLutBlockBytes], 64-byte aligned

  const std::byte* group(int64_t g) const { return data.get() + static_cast<size_t>(g) * group_bytes; }
  size_t bytes() const { return static_cast<size_t>(groups) * group_bytes; }  // what a GEMV reads
};

// Re-lays out W: [rows, cols] Q4_0, row-major (rows of cols / 32 BlockQ4_0). rows > 0
// and cols a positive multiple of 32 (caller bugs: TANDEM_CHECK). kOutOfMemory if the
// memory cannot be allocated.
Result<LutMatrix> pack_lut_q4_0(const void* w, int64_t rows, int64_t cols);

// The tables of one 32-element activation block (one Q8_0 block).
struct alignas(64) LutActBlock {
  // [chunk j][TL of group 2j, TH of group 2j, TL of group 2j+1, TH of group 2j+1]
  // [pattern m]: TL[m] = sum_{bit i of m} (qs[4g+i] & 15), TH[m] = sum (qs[4g+i] >> 4).
  // TL entries are unsigned, TH signed.
  uint8_t tab[4][4][16];
  float d;         // fp16_to_f32 of the Q8_0 block's d
  int32_t bias;    // -8 * sum(qs)
  uint8_t pad[56];
};
static_assert(sizeof(LutActBlock) == 320);

// x_q8_0: [cols / 32] BlockQ8_0 (as quantize_activation_ref(kQ4_0, ...) makes; any
// int8 values, -128 included) -> act: [cols / 32] LutActBlock (pad not written).
// lut_prepare_act runs lut_prepare_act_avx512vbmi where lut_available(), else the plain
// C++ lut_prepare_act_ref; both write the same bytes.
void lut_prepare_act(const void* x_q8_0, int64_t cols, LutActBlock* act);
void lut_prepare_act_ref(const void* x_q8_0, int64_t cols, LutActBlock* act);
// x: [cols] floats -> act: lut_prepare_act of quantize_activation_ref(kQ4_0, x, ...) (the
// reference's Q8_0 rounding), in one pass with no Q8_0 row in between; SIMD where
// lut_available(). Blocks are independent: threads may each take a run of blocks.
void lut_quantize_act(const float* x, int64_t cols, LutActBlock* act);

// Whether lut_gemv_q4_0 can run: AVX-512 F/BW (kAvx512 level) with VNNI and VBMI.
bool lut_available(const CpuFeatures& f);
bool lut_available();  // this CPU

// y[r] = vec_dot_ref(kQ4_0, cols, W row r, x) bit for bit, for r in [row_begin, row_end)
// (0 <= row_begin <= row_end <= m.rows), x the Q8_0 activation `act` was prepared from.
// y is indexed by absolute row; nothing outside [row_begin, row_end) is written. Whole
// 16-row groups are computed: ranges on multiples of kLutRows waste nothing. Requires
// lut_available() (TANDEM_CHECK).
void lut_gemv_q4_0(const LutMatrix& m, const LutActBlock* act, int64_t row_begin, int64_t row_end,
                   float* y);

// The AVX-512 code behind lut_prepare_act and lut_gemv_q4_0, same contracts
// (lut_gemv_avx512.cpp, built with the AVX-512 BW/VNNI/VBMI flags: call them only where
// lut_available()).
void lut_prepare_act_avx512vbmi(const void* x_q8_0, int64_t cols, LutActBlock* act);
void lut_quantize_act_avx512vbmi(const float* x, int64_t cols, LutActBlock* act);
void lut_gemv_q4_0_avx512vbmi(const LutMatrix& m, const LutActBlock* act, int64_t row_begin,
                              int64_t row_end, float* y);

}  // namespace tandem::cpu
