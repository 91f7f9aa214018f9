// Y = X · Wᵀ for a weight matrix of any supported type: the engine's linear layer.
// Activations are converted once per token to the weight type's dot type, then rows
// are split across the arena's threads. Uses the reference dot kernels for now.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "cpu/thread_arena.h"

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

void matmul(const ThreadArena& arena, const MatmulArgs& a);

}  // namespace tandem::cpu
