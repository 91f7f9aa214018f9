// The packed-weight kernels behind matmul() (cpu/matmul.h) and their block layouts.
// Each kernel lives in a file built with its ISA's flags only; this header holds only
// declarations and plain structs (see gemv_kernels.h for why).
//
// A kernel computes, for tokens t < n_tokens and the rows of groups
// [group_begin, group_end):  y[t * y_stride + r] = vec_dot_ref(type, cols, W row r, x_t)
// bit for bit, where x_t is token t's activation converted by quantize_activation_ref.
// The kernels read the activations in their own formats (below), made from exactly
// those values.
//
// Layouts of one block column of a 16-row group (lane r = row 16g + r):
//   Q4_0 (288 bytes):  d[16] f16, then 4 chunks of 64 bytes; chunk j, bytes 4r..4r+3 =
//                      row r's qs[4j .. 4j+3] (low nibbles: elements 4j.., high: 16+4j..).
//   Q5_0 (352 bytes):  Q4_0's 288 bytes (the low 4 bits), then 64 bytes: bytes
//                      4r..4r+3 = row r's 5th bits, byte k holding at bit j the bit of
//                      element 4j+k and at bit 4+j that of element 16+4j+k (j = 0..3),
//                      so for nibble chunk j one 16-bit shift puts them at bit 4.
//   Q8_0 (544 bytes):  d[16] f16, then 8 chunks of 64 bytes; chunk j, bytes 4r..4r+3 =
//                      row r's qs[4j .. 4j+3] + 128 (as unsigned bytes).
//   Q4_1 (320 bytes):  d[16] f16, m[16] f16, then Q4_0's 4 chunks of 64 bytes (the
//                      nibbles, unsigned 0..15, as stored).
//   Q5_1 (384 bytes):  Q4_1's 320 bytes (the low 4 bits), then the 64 bytes of 5th bits
//                      regrouped as Q5_0's. Q4_1 and Q5_1 block columns are multiples
//                      of 64 bytes, so every chunk of a 64-byte aligned group is aligned.
//   Q2_K (1344 bytes, one 256-column super-block; packed_kquant.cpp): d[16] f16,
//                      dmin[16] f16, scales[16][16] u8 (sub-block s, lane r = row r's
//                      scales[s] byte: scale | min << 4), then 16 chunks of 64 bytes:
//                      chunk c, bytes 4r..4r+3 = row r's qs[4c .. 4c+3], as GGUF stores
//                      them: byte 32h + l holds in bits 2k, 2k+1 element 128h + 32k + l.
//   Q3_K (1856 bytes): d[16] f16, 32 zero bytes, scales[16][16] i8 (sub-block s, lane r =
//                      row r's scale s, -32..31), then qs as Q2_K's (16 chunks), then 8
//                      chunks of hmask: chunk i, bytes 4r..4r+3 = row r's hmask[4i .. 4i+3]
//                      (bit 4h + k of hmask[l] is the third bit of element 128h + 32k + l).
//   Q4_K (2368 bytes, one 256-column super-block; packed_kquant.cpp):
//                      d[16] f16, dmin[16] f16, scales[8][16] u8 (sub-block j, lane r =
//                      row r's 6-bit scale j), mins[8][16] u8 (same, the 6-bit mins),
//                      then 32 chunks of 64 bytes: chunk j, bytes 4r..4r+3 = row r's
//                      qs[4j .. 4j+3], as GGUF stores them: chunk 8c+i (c = 0..3,
//                      i = 0..7) holds elements 64c + 4i + (0..3) of sub-block 2c in its
//                      low nibbles and 64c + 32 + 4i + (0..3) of sub-block 2c+1 in its
//                      high nibbles.
//   Q5_K (2880 bytes): the Q4_K layout (its qs chunks hold the low 4 bits), then 8
//                      chunks of 64 bytes: chunk i, bytes 4r..4r+3 = row r's
//                      qh[4i .. 4i+3]; bit j of qh[l] is the 5th bit of element l of
//                      sub-block j.
//   Q6_K (3392 bytes): d[16] f16, 32 zero bytes (so the chunks are 64-byte aligned),
//                      scales[16][16] i8 (sub-block s, lane r = row r's scales[s]), then
//                      16 quads of 3 x 64 bytes; quad 8h+i (h = 0..1, i = 0..7), lane r:
//                      [ql[64h+4i ..+3]] [ql[64h+32+4i ..+3]] [qh[32h+4i ..+3]] of row r,
//                      as GGUF stores them (quant_k_ref.cpp), so quad 8h+i holds elements
//                      128h + 4i + 32k + (0..3) for k = 0..3: k = 0, 1 the two ql
//                      chunks' low nibbles with qh bits 0-1 and 2-3 above them, k = 2, 3
//                      their high nibbles with qh bits 4-5 and 6-7.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/quant_blocks.h"
#include "cpu/packed.h"

namespace tandem::cpu {

// One 32-element activation block for the Q4_0 / Q8_0 packed kernels: the Q8_0 block
// quantize_row_ref makes (d rounded to f16, then widened), with its sum precomputed.
struct ActBlock32 {
  float d;        // fp16_to_f32 of the Q8_0 block's d
  int32_t sum;    // sum of qs
  int8_t qs[32];
};
static_assert(sizeof(ActBlock32) == 40);

// One 32-element activation block for the Q4_1 / Q5_1 packed kernels: the Q8_1 block
// quantize_row_ref(kQ8_1) makes, its two f16 fields widened. The kernels need no
// integer sum (their weights carry no offset): the term m_w * s is the reference's.
struct ActBlockQ8_1 {
  float d;        // fp16_to_f32 of the Q8_1 block's d
  float s;        // fp16_to_f32 of its s = f16(sum(qs) * d), d before rounding to f16
  int8_t qs[32];
};
static_assert(sizeof(ActBlockQ8_1) == sizeof(ActBlock32));

// The activation format a packed kernel reads.
enum class PackedAct {
  kQ8_0,  // ActBlock32 in chunks (Q4_0, Q5_0, Q8_0)
  kQ8_1,  // ActBlockQ8_1 in chunks (Q4_1, Q5_1)
  kQ8_K,  // BlockQ8_K rows (the K types)
};

// Q4_0/Q5_0/Q8_0 (ActBlock32) and Q4_1/Q5_1 (ActBlockQ8_1) activations are interleaved
// by chunks of kActChunk tokens, so one pointer reaches every token's block b: token
// t's block b is at
//   x[(t / kActChunk * nb + b) * kActChunk + t % kActChunk]   (nb = cols / 32 blocks;
// a partial last chunk keeps the stride). Q4_K/Q6_K activations are plain rows.
constexpr int kActChunk = 8;

struct PackedGemm {
  const PackedMatrix* w;
  const void* x;          // ActBlock32 (Q4_0/Q5_0/Q8_0) or ActBlockQ8_1 (Q4_1/Q5_1) in
                          // chunks (above), the chunk of token 0 first; BlockQ8_K rows
                          // x_stride bytes apart for the K types
  size_t x_stride;
  int64_t n_tokens;
  int64_t group_begin;    // groups to compute: [group_begin, group_end)
  int64_t group_end;
  float* y;               // [n_tokens, y_stride]; only rows < w->rows are written
  int64_t y_stride;
};

using PackedGemmFn = void (*)(const PackedGemm& a);

// The packed kernel for weights of type t on `isa` (this CPU's features), or null
// where packable(t, isa) is false.
PackedGemmFn select_packed_gemm(DType t, Isa isa);
// The same for a CPU with features f (AVX-512 without VNNI: the AVX2 kernels).
PackedGemmFn select_packed_gemm(DType t, Isa isa, const CpuFeatures& f);

// The activation format the packed kernels for weight type t read (t packable).
PackedAct packed_act(DType t);
// Whether that format is one of 32-element blocks in chunks of kActChunk tokens
// (ActBlock32 or ActBlockQ8_1, both 40 bytes); else Q8_K rows.
bool packed_act32(DType t);
// Bytes of one token's activations in that format (cols / 32 blocks of 40 bytes, or a
// BlockQ8_K row).
size_t packed_act_row_bytes(DType t, int64_t cols);
// x: cols floats -> dst: packed_act_row_bytes(t, cols) bytes (reference rounding),
// blocks contiguous.
void quantize_packed_act(DType t, const float* x, void* dst, int64_t cols);

// ---- AVX-512 F/BW/VL/DQ + VNNI ------------------------------------------------------
// quantize_packed_act for Q4_0/Q5_0/Q8_0 and for Q4_1/Q5_1 (nb blocks of 32), the same
// bytes. quantize_row_ref(kQ8_K) for nb blocks of 256, the same bytes (quant_act_avx512.cpp).
void quantize_q8_k_avx512(const float* x, BlockQ8_K* y, int64_t nb);
// Block b goes to dst[b * dst_step] (packed_legacy_avx512.cpp).
void quantize_act32_avx512(const float* x, ActBlock32* dst, int64_t nb, int64_t dst_step);
void quantize_act32_q8_1_avx512(const float* x, ActBlockQ8_1* dst, int64_t nb, int64_t dst_step);
void gemm_q4_0x16_avx512vnni(const PackedGemm& a);  // packed_legacy_avx512.cpp
void gemm_q4_1x16_avx512vnni(const PackedGemm& a);
void gemm_q5_0x16_avx512vnni(const PackedGemm& a);
void gemm_q5_1x16_avx512vnni(const PackedGemm& a);
void gemm_q8_0x16_avx512vnni(const PackedGemm& a);
void gemm_q2_kx16_avx512vnni(const PackedGemm& a);  // packed_kquant_avx512.cpp
void gemm_q3_kx16_avx512vnni(const PackedGemm& a);
void gemm_q4_kx16_avx512vnni(const PackedGemm& a);
void gemm_q5_kx16_avx512vnni(const PackedGemm& a);
void gemm_q6_kx16_avx512vnni(const PackedGemm& a);

// ---- AVX2 + FMA + F16C, plain or with AVX-VNNI: the Isa::kAvx2 lane -----------------
// What packable / select_packed_gemm answer for Isa::kAvx2 (packed_avx2_select.cpp):
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K where f has AVX2; the
// AVX-VNNI kernel where avx_vnni is true, else the plain AVX2 one (null where t has
// neither).
bool packable_avx2(DType t, const CpuFeatures& f);
PackedGemmFn select_packed_gemm_avx2(DType t, bool avx_vnni);
// The lane's activation quantizers, the same bytes as the AVX-512 ones above
// (quant_act_avx2.cpp; AVX2 + F16C only).
void quantize_act32_avx2(const float* x, ActBlock32* dst, int64_t nb, int64_t dst_step);
void quantize_act32_q8_1_avx2(const float* x, ActBlockQ8_1* dst, int64_t nb, int64_t dst_step);
void quantize_q8_k_avx2(const float* x, BlockQ8_K* y, int64_t nb);
void gemm_q4_0x16_avx2(const PackedGemm& a);     // packed_avx2.cpp: vpmaddubsw + vpmaddwd
void gemm_q4_1x16_avx2(const PackedGemm& a);
void gemm_q5_0x16_avx2(const PackedGemm& a);
void gemm_q5_1x16_avx2(const PackedGemm& a);
void gemm_q8_0x16_avx2(const PackedGemm& a);
void gemm_q2_kx16_avx2(const PackedGemm& a);
void gemm_q3_kx16_avx2(const PackedGemm& a);
void gemm_q4_kx16_avx2(const PackedGemm& a);
void gemm_q5_kx16_avx2(const PackedGemm& a);
void gemm_q6_kx16_avx2(const PackedGemm& a);
void gemm_q4_0x16_avxvnni(const PackedGemm& a);  // packed_avxvnni.cpp: VEX vpdpbusd
void gemm_q4_1x16_avxvnni(const PackedGemm& a);
void gemm_q5_0x16_avxvnni(const PackedGemm& a);
void gemm_q5_1x16_avxvnni(const PackedGemm& a);
void gemm_q8_0x16_avxvnni(const PackedGemm& a);
void gemm_q2_kx16_avxvnni(const PackedGemm& a);
void gemm_q3_kx16_avxvnni(const PackedGemm& a);
void gemm_q4_kx16_avxvnni(const PackedGemm& a);
void gemm_q5_kx16_avxvnni(const PackedGemm& a);
void gemm_q6_kx16_avxvnni(const PackedGemm& a);

// Byte offsets inside one packed K-quant block column (layouts above).
struct PackedQ2K {
  static constexpr size_t kD = 0, kDmin = 32, kScales = 64, kQs = 320;
  static constexpr size_t kBytes = kQs + 16 * 64;  // 1344
};
struct PackedQ3K {
  static constexpr size_t kD = 0, kScales = 64, kQs = 320, kHmask = 1344;
  static constexpr size_t kBytes = kHmask + 8 * 64;  // 1856
};
struct PackedQ4K {
  static constexpr size_t kD = 0, kDmin = 32, kScales = 64, kMins = 192, kQs = 320;
  static constexpr size_t kBytes = kQs + 32 * 64;  // 2368
};
struct PackedQ5K {  // PackedQ4K's fields at the same offsets, then qh
  static constexpr size_t kD = 0, kDmin = 32, kScales = 64, kMins = 192, kQs = 320, kQh = 2368;
  static constexpr size_t kBytes = kQh + 8 * 64;  // 2880
};
struct PackedQ6K {
  static constexpr size_t kD = 0, kScales = 64, kQuads = 320;
  static constexpr size_t kBytes = kQuads + 16 * 3 * 64;  // 3392
};

// Packing of one group (16 source rows, the missing ones null) into dst (group_bytes).
void pack_group_q4_0(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q4_1(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q5_0(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q5_1(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q8_0(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q2_k(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q3_k(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q4_k(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q5_k(const void* const rows[16], int64_t cols, std::byte* dst);
void pack_group_q6_k(const void* const rows[16], int64_t cols, std::byte* dst);
// Bytes of one packed group of 16 rows of `cols` columns of type t.
size_t packed_group_bytes(DType t, int64_t cols);

}  // namespace tandem::cpu
