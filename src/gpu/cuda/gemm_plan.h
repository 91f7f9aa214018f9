// How gemm_quant (gemm_quant.h) cuts a weight matrix into panels that fit the
// dequantization workspace, and the shape contract it checks first. Plain C++ (no CUDA
// header), so tests/gpu_host checks it with no GPU.
//
// The workspace is the memory plan's (engine/memory_plan.cpp, workspace_item): "weights
// as f16 [largest layer matrix]" and "input as f16 [batch, widest]". So a layer matrix
// fits in one panel, and the output head ([n_vocab, n_embd], usually larger than any
// layer matrix) runs in panels of floor(weight_bytes / (2 cols)) rows: the plan's "row
// chunks of the same size". Panels of more than 16 rows are cut to a multiple of 16
// (whole tensor-core tiles; each panel's output starts a multiple of 64 bytes past y).
#pragma once

#include <cstdint>
#include <limits>

#include "core/dtype.h"
#include "core/status.h"

namespace tandem::gpu {

inline constexpr int64_t kGemmPanelRowMultiple = 16;

// The types dequantize_to_f16 and gemm_quant take: every type the GEMV takes
// (gemv_quant.cuh).
constexpr bool dequant_f16_supported(DType t) {
  switch (t) {
    case DType::kF16: case DType::kBF16:
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

//   y[t, r] = sum_c W[r, c] * x[t, c]      t < n_tokens, r < rows
struct GemmShape {
  int64_t rows = 0;      // output features (rows of W), 0 .. INT32_MAX
  int64_t cols = 0;      // input features: > 0, a multiple of the type's block (32; 256 for K-quants)
  int32_t n_tokens = 0;  // >= 1 (the engine uses the GEMV up to kGemvMaxBatch)
};

// Bytes of the f16 workspaces for a shape.
constexpr uint64_t gemm_input_bytes(int64_t cols, int32_t n_tokens) {
  return uint64_t{2} * static_cast<uint64_t>(cols) * static_cast<uint64_t>(n_tokens);
}
constexpr uint64_t gemm_panel_bytes(int64_t panel_rows, int64_t cols) {
  return uint64_t{2} * static_cast<uint64_t>(panel_rows) * static_cast<uint64_t>(cols);
}

struct GemmPanels {
  int64_t panel_rows = 0;  // rows per panel; the last one may have fewer
  int64_t n_panels = 0;    // ceil(rows / panel_rows); 0 when rows = 0

  int64_t first_row(int64_t i) const { return i * panel_rows; }
  int64_t rows_in(int64_t i, int64_t rows) const {
    const int64_t left = rows - first_row(i);
    return left < panel_rows ? left : panel_rows;
  }
};

// kInvalidArgument naming the problem: a type without an f16 dequantizer, a shape off
// the contract (cuBLAS takes int sizes), a workspace too small for the input or for one
// row of W.
inline Result<GemmPanels> plan_gemm_panels(DType type, const GemmShape& s, uint64_t weight_bytes,
                                           uint64_t input_bytes) {
  constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();
  if (!dequant_f16_supported(type))
    return Error(Code::kInvalidArgument) << "gemm: no f16 dequantizer for " << dtype_name(type) << " weights";
  const int64_t block = traits(type).block_elems;
  if (s.rows < 0 || s.rows > kIntMax || s.cols <= 0 || s.cols > kIntMax || s.cols % block != 0 || s.n_tokens < 1)
    return Error(Code::kInvalidArgument) << "gemm: shape rows " << s.rows << ", cols " << s.cols << ", tokens "
                                         << s.n_tokens << " of " << dtype_name(type)
                                         << " (rows 0.." << kIntMax << ", cols a positive multiple of " << block
                                         << ", tokens >= 1)";
  if (input_bytes < gemm_input_bytes(s.cols, s.n_tokens))
    return Error(Code::kInvalidArgument) << "gemm: the input workspace has " << input_bytes << " bytes, "
                                         << s.n_tokens << " tokens x " << s.cols << " f16 need "
                                         << gemm_input_bytes(s.cols, s.n_tokens);
  if (weight_bytes < gemm_panel_bytes(1, s.cols))
    return Error(Code::kInvalidArgument) << "gemm: the weight workspace has " << weight_bytes
                                         << " bytes, one f16 row of " << s.cols << " needs "
                                         << gemm_panel_bytes(1, s.cols);
  if (s.rows == 0) return GemmPanels{0, 0};
  int64_t panel = static_cast<int64_t>(weight_bytes / gemm_panel_bytes(1, s.cols));
  if (panel >= s.rows) return GemmPanels{s.rows, 1};
  if (panel > kGemmPanelRowMultiple) panel -= panel % kGemmPanelRowMultiple;
  return GemmPanels{panel, (s.rows + panel - 1) / panel};
}

}  // namespace tandem::gpu
