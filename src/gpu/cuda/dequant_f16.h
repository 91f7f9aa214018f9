// One 32-weight piece of a quantized matrix as IEEE half bits: the piece's floats from
// the type's functor (dequant_legacy.h, dequant_k.h: bit for bit cpu::dequantize_row_ref),
// each rounded to the nearest half (ties to even; past the half range: inf). Written once
// for two compilers (TANDEM_HD, see dequant_common.h): dequantize_f16.cu runs it per
// thread, tests/gpu_host runs it on the CPU against the reference rounded by core/fp16.h.
//
// Piece p of a matrix with cols columns is row p / (cols / 32), columns 32 (p % (cols / 32))
// onwards; in a row, piece q is sub-piece q % kSubs of block q / kSubs.
#pragma once

#include <cstdint>

#include "core/fp16.h"
#include "gpu/cuda/dequant_common.h"

namespace tandem::gpu {

// f32 -> half bits, round to nearest even (the device's __float2half_rn; core/fp16.h on
// the host: the two agree on every non-NaN float, subnormals and overflow included).
TANDEM_HD uint16_t f32_to_half_bits(float v) {
#ifdef __CUDA_ARCH__
  return __half_as_ushort(__float2half_rn(v));
#else
  return ::tandem::f32_to_fp16(v);
#endif
}

// w: [rows, cols / (32 kSubs)] blocks (rows contiguous); `row` and `piece` (the piece
// within the row) locate the 32 weights; out[i] = halves of elements 2i (low 16 bits)
// and 2i + 1 (high), as a little-endian store writes them.
template <typename Dequant>
TANDEM_HD void dequant_piece_f16(const typename Dequant::Block* w, int64_t blocks_per_row, int64_t row, int64_t piece,
                                 uint32_t (&out)[16]) {
  float v[32];
  Dequant{}(w[row * blocks_per_row + piece / Dequant::kSubs], static_cast<int>(piece % Dequant::kSubs), v);
  TANDEM_UNROLL
  for (int i = 0; i < 16; ++i)
    out[i] = static_cast<uint32_t>(f32_to_half_bits(v[2 * i])) |
             (static_cast<uint32_t>(f32_to_half_bits(v[2 * i + 1])) << 16);
}

}  // namespace tandem::gpu
