// Y = X · Wᵀ for a weight matrix of any supported type: the engine's linear layer.
// Activations are converted once per token to the weight type's dot type, then groups
// of rows are split across the lane's threads and run by the GEMV kernel that
// select_gemv() picks for the weight type and the lane's ISA (cpu/gemv.h).
#pragma once

#include <cstdint>
#include <span>

#include "core/dtype.h"
#include "cpu/cpu_lane.h"
#include "cpu/packed.h"

namespace tandem::cpu {

struct MatmulArgs {
  DType type;          // weight type
  const void* w;       // [rows, cols] of `type`, row-major (GGUF ne0 = cols)
  int64_t rows;
  int64_t cols;
  const float* x;      // [n_tokens, cols]
  int64_t n_tokens;
  float* y;            // [n_tokens, rows]
  // The same matrix re-laid out by pack_matrix, or null. Used when the lane's ISA has a
  // packed kernel for the type (packable); otherwise `w` is.
  const PackedMatrix* packed = nullptr;
};

// With a packed matrix, the packed kernels (packed_kernels.h) run instead of the GEMV
// row kernels, with the same results.
// Quantized weight types give the reference's results bit for bit on every ISA;
// F32/F16/BF16 differ from it by f32 summation order (see gemv_kernels.h).
void matmul(const CpuLane& lane, const MatmulArgs& a);

// Several matrices applied to the same activations (Q, K and V; gate and up): every
// element of `mats` has the same x, n_tokens and cols. Where all have packed kernels
// reading one activation format, x is converted once and one parallel pass covers all
// their rows; otherwise they run one by one. Results as matmul()'s.
void matmul_shared_input(const CpuLane& lane, std::span<const MatmulArgs> mats);

}  // namespace tandem::cpu
