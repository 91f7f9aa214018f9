// The per-ISA GEMV row kernels behind select_gemv() (cpu/gemv.h). Each kernel lives in
// a file built with its ISA's flags only (gemv_<family>_<isa>.cpp); this header is
// shared by all of them, so it holds only declarations and a plain struct: no inline
// or template code that a compiler could build with AVX-512 flags in one translation
// unit and the linker could then pick for another.
//
// Every kernel computes, for each row r in [row_begin, row_end),
//   y[r] = vec_dot_ref(type, cols, W row r, x)
// with x already in vec_dot_type(type). Quantized types: bit-identical to the
// reference (same integer block sums, same f32 operations per block, blocks summed in
// the same order, no fused multiply-add). F32/F16/BF16: the same products, summed in
// a different order (SIMD lanes), so they differ from the reference by f32 rounding of
// the sum only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::cpu {

struct GemvRows {
  const void* w;         // row 0 of W: rows of `cols` elements of the weight type
  size_t w_stride;       // bytes from one row of W to the next
  const void* x;         // [cols] in the weight type's dot type (Q8_0, Q8_1, Q8_K, f16 ...)
  int64_t cols;          // a multiple of the weight type's block size
  int64_t row_begin;     // rows to compute: [row_begin, row_end)
  int64_t row_end;
  float* y;              // indexed by absolute row: writes y[row_begin .. row_end)
};

// ---- AVX2 + FMA + F16C (gemv_legacy_avx2.cpp, gemv_kquant_avx2.cpp, gemv_float_avx2.cpp)
void gemv_q8_0_avx2(const GemvRows& a);  // x: Q8_0
void gemv_q4_0_avx2(const GemvRows& a);  // x: Q8_0
void gemv_q5_0_avx2(const GemvRows& a);  // x: Q8_0
void gemv_q4_1_avx2(const GemvRows& a);  // x: Q8_1
void gemv_q5_1_avx2(const GemvRows& a);  // x: Q8_1
void gemv_q4_k_avx2(const GemvRows& a);  // x: Q8_K
void gemv_q5_k_avx2(const GemvRows& a);  // x: Q8_K
void gemv_q6_k_avx2(const GemvRows& a);  // x: Q8_K
void gemv_q2_k_avx2(const GemvRows& a);  // x: Q8_K (gemv_k23_avx2.cpp)
void gemv_q3_k_avx2(const GemvRows& a);  // x: Q8_K (gemv_k23_avx2.cpp)
void gemv_f32_avx2(const GemvRows& a);   // x: f32
void gemv_f16_avx2(const GemvRows& a);   // x: f16
void gemv_bf16_avx2(const GemvRows& a);  // x: bf16

// ---- AVX-512 F/BW/VL/DQ + VNNI (gemv_legacy_avx512.cpp, gemv_kquant_avx512.cpp) ------
// The integer kernels use vpdpbusd/vpdpwssd: only for CPUs with AVX-512 VNNI.
void gemv_q8_0_avx512vnni(const GemvRows& a);
void gemv_q4_0_avx512vnni(const GemvRows& a);
void gemv_q5_0_avx512vnni(const GemvRows& a);
void gemv_q4_1_avx512vnni(const GemvRows& a);
void gemv_q5_1_avx512vnni(const GemvRows& a);
void gemv_q4_k_avx512vnni(const GemvRows& a);
void gemv_q5_k_avx512vnni(const GemvRows& a);
void gemv_q6_k_avx512vnni(const GemvRows& a);
void gemv_q2_k_avx512vnni(const GemvRows& a);  // gemv_k23_avx512.cpp
void gemv_q3_k_avx512vnni(const GemvRows& a);  // gemv_k23_avx512.cpp

// ---- AVX-512 F/BW/VL/DQ (gemv_float_avx512.cpp) --------------------------------------
void gemv_f32_avx512(const GemvRows& a);
void gemv_f16_avx512(const GemvRows& a);
void gemv_bf16_avx512(const GemvRows& a);

}  // namespace tandem::cpu
