// gemm_quant's panel plan and shape contract (gpu/cuda/gemm_plan.h), with no GPU:
//  - with the memory plan's workspace (the largest layer matrix as f16) every layer
//    matrix is one panel and an output head runs in whole panels of 16 rows;
//  - over a grid of shapes and workspace sizes the panels tile [0, rows) exactly, each
//    fits the workspace, and none is needlessly small;
//  - every argument off the contract is refused with a message that names it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "gpu/cuda/gemm_plan.h"

namespace tandem::gpu {
namespace {

// The memory plan's parts (engine/memory_plan.cpp, workspace_item): weights as f16
// [largest layer matrix], input as f16 [batch, max(n_embd, n_ff, q_dim)].
struct PlanWorkspace {
  uint64_t weights, input;
};
PlanWorkspace plan_workspace(int64_t n_embd, int64_t n_ff, int64_t q_dim, int64_t kv_dim, int32_t batch) {
  const int64_t largest = std::max({n_ff * n_embd, q_dim * n_embd, kv_dim * n_embd});
  const int64_t widest = std::max({n_embd, n_ff, q_dim});
  return {static_cast<uint64_t>(largest) * 2, static_cast<uint64_t>(batch) * static_cast<uint64_t>(widest) * 2};
}

void expect_tiles(const GemmPanels& p, const GemmShape& s, uint64_t weight_bytes, const std::string& what) {
  if (s.rows == 0) {
    EXPECT_EQ(p.n_panels, 0) << what;
    return;
  }
  ASSERT_GE(p.panel_rows, 1) << what;
  EXPECT_LE(gemm_panel_bytes(p.panel_rows, s.cols), weight_bytes) << what;
  EXPECT_EQ(p.n_panels, (s.rows + p.panel_rows - 1) / p.panel_rows) << what;
  int64_t next = 0;
  for (int64_t i = 0; i < p.n_panels; ++i) {
    ASSERT_EQ(p.first_row(i), next) << what << " panel " << i;
    const int64_t m = p.rows_in(i, s.rows);
    ASSERT_GE(m, 1) << what << " panel " << i;
    ASSERT_LE(m, p.panel_rows) << what << " panel " << i;
    next += m;
  }
  EXPECT_EQ(next, s.rows) << what;
  const int64_t fit = static_cast<int64_t>(weight_bytes / gemm_panel_bytes(1, s.cols));
  if (fit >= s.rows) {
    EXPECT_EQ(p.n_panels, 1) << what << ": the matrix fits whole";
  } else if (fit > kGemmPanelRowMultiple) {
    EXPECT_EQ(p.panel_rows % kGemmPanelRowMultiple, 0) << what;
    EXPECT_GT(p.panel_rows + kGemmPanelRowMultiple, fit) << what << ": a panel left more than a tile unused";
  } else {
    EXPECT_EQ(p.panel_rows, fit) << what;
  }
}

TEST(GemmPlan, MemoryPlanWorkspaceHoldsEveryLayerMatrixAndChunksTheHead) {
  // Llama-3.1-8B: n_embd 4096, n_ff 14336, 32 heads x 128, 8 KV heads, vocab 128256.
  const PlanWorkspace ws = plan_workspace(4096, 14336, 4096, 1024, 512);
  for (GemmShape s : {GemmShape{4096, 4096, 512}, GemmShape{1024, 4096, 512}, GemmShape{14336, 4096, 512},
                      GemmShape{4096, 14336, 512}, GemmShape{4096, 14336, 9}}) {
    auto p = plan_gemm_panels(DType::kQ4_K, s, ws.weights, ws.input);
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p->n_panels, 1) << s.rows << " x " << s.cols;
    EXPECT_EQ(p->panel_rows, s.rows);
  }
  const GemmShape head{128256, 4096, 512};
  auto p = plan_gemm_panels(DType::kQ6_K, head, ws.weights, ws.input);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->panel_rows, 14336);  // the largest layer matrix's rows, already a multiple of 16
  EXPECT_EQ(p->n_panels, 9);
  EXPECT_EQ(p->rows_in(8, head.rows), 128256 - 8 * 14336);
  expect_tiles(*p, head, ws.weights, "8B head");

  // qwen2.5-0.5B: n_embd 896, n_ff 4864, 14 heads x 64, 2 KV heads, vocab 151936.
  const PlanWorkspace q = plan_workspace(896, 4864, 896, 128, 512);
  const GemmShape qhead{151936, 896, 512};
  p = plan_gemm_panels(DType::kQ8_0, qhead, q.weights, q.input);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->panel_rows, 4864);
  expect_tiles(*p, qhead, q.weights, "0.5B head");
}

TEST(GemmPlan, PanelsTileTheRowsForEveryShapeAndWorkspace) {
  for (DType type : {DType::kQ4_0, DType::kF16, DType::kQ6_K}) {
    const int64_t block = traits(type).block_elems;
    for (int64_t rows : {0, 1, 15, 16, 17, 67, 1000, 4099, 128256}) {
      for (int64_t cols : {block, 3 * block, 4096 + block}) {
        for (int64_t ws_rows : {1, 2, 15, 16, 17, 31, 33, 100, 1000, 4099, 200000}) {
          for (uint64_t extra : {uint64_t{0}, uint64_t{1}, gemm_panel_bytes(1, cols) - 1}) {
            const GemmShape s{rows, cols, 9};
            const uint64_t wb = gemm_panel_bytes(ws_rows, cols) + extra;
            const std::string what = std::string(dtype_name(type)) + " rows " + std::to_string(rows) + " cols " +
                                     std::to_string(cols) + " workspace " + std::to_string(wb);
            auto p = plan_gemm_panels(type, s, wb, gemm_input_bytes(cols, 9));
            ASSERT_TRUE(p) << what << ": " << p.error().message();
            expect_tiles(*p, s, wb, what);
          }
        }
      }
    }
  }
}

TEST(GemmPlan, RefusesArgumentsOffTheContract) {
  const uint64_t big = uint64_t{1} << 40;
  auto refused = [&](DType t, GemmShape s, uint64_t wb, uint64_t ib, const std::string& needle) {
    auto p = plan_gemm_panels(t, s, wb, ib);
    ASSERT_FALSE(p) << needle;
    EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
    EXPECT_NE(p.error().message().find(needle), std::string::npos) << p.error().message();
  };
  refused(DType::kF32, {64, 256, 9}, big, big, "no f16 dequantizer for f32");
  refused(DType::kQ8_K, {64, 256, 9}, big, big, "no f16 dequantizer");
  refused(DType::kQ4_K, {64, 288, 9}, big, big, "cols 288");      // not a multiple of 256
  refused(DType::kQ4_0, {64, 48, 9}, big, big, "multiple of 32");
  refused(DType::kQ4_0, {64, 0, 9}, big, big, "cols 0");
  refused(DType::kQ4_0, {64, 64, 0}, big, big, "tokens 0");
  refused(DType::kQ4_0, {-1, 64, 9}, big, big, "rows -1");
  refused(DType::kQ4_0, {int64_t{1} << 31, 64, 9}, big, big, "rows 2147483648");  // ldc is an int
  refused(DType::kQ4_0, {64, int64_t{1} << 31, 9}, big, big, "cols 2147483648");
  refused(DType::kQ4_0, {64, 64, 9}, big, gemm_input_bytes(64, 9) - 1, "input workspace has 1151 bytes");
  refused(DType::kQ4_0, {64, 64, 9}, gemm_panel_bytes(1, 64) - 1, big, "weight workspace has 127 bytes");
  // The smallest workspaces that work: one row of W, exactly the input.
  auto p = plan_gemm_panels(DType::kQ4_0, {64, 64, 9}, gemm_panel_bytes(1, 64), gemm_input_bytes(64, 9));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->panel_rows, 1);
  EXPECT_EQ(p->n_panels, 64);
}

}  // namespace
}  // namespace tandem::gpu
