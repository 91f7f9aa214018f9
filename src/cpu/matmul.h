// Y = X · Wᵀ for a weight matrix of any supported type: the engine's linear layer.
// Activations are converted once per token to the weight type's dot type, then groups
// of rows are split across the lane's threads and run by the GEMV kernel that
// select_gemv() picks for the weight type and the lane's ISA (cpu/gemv.h).
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "cpu/cpu_lane.h"

namespace tandem::cpu {

struct MatmulArgs {
  DType type;          // weight type
  const void* w;       // [rows, cols] of `type`, row-major (GGUF ne0 = cols)
  int64_t rows;
  int64_t cols;
  const float* x;      // [n_tokens, cols]
  int64_t n_tokens;
  float* y;            // [n_tokens, rows]
};

// Quantized weight types give the reference's results bit for bit on every ISA;
// F32/F16/BF16 differ from it by f32 summation order (see gemv_kernels.h).
void matmul(const CpuLane& lane, const MatmulArgs& a);

}  // namespace tandem::cpu
