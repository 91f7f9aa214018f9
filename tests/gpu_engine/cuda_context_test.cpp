// The CUDA layer executor under the engine: a Context whose last layers (and output
// head) run on the GPU gives the logits of the CPU, for every placement (full offload,
// one layer, all but one, the head alone, auto under a budget, batches of 4 tokens),
// with prefill chunks, batches of several sequences, forks (copy-on-write blocks copied
// on the device) and truncation, and the same greedy continuations; the device holds
// exactly the plan (high-water mark == plan total), refuses an allocator smaller than
// the plan and a KV layout its kernels cannot read. Every test skips without a CUDA
// device.
//
// The oracle is the CPU on a copy of the model with every weight dequantized to f32
// (gpu_engine_util.h): the same weights the GPU multiplies, f32 activations, f32 sums.
// Against the quantized model's own CPU path the GPU differs by the CPU's int8
// activation quantization (Q8_0/Q8_K dot products), which the host model below put at up
// to 0.46 in a logit (rms/std 0.041) on these models: a bound that loose would check
// little.
//
// Bounds (tolerance_for below), from a host model of the GPU's numerics (f32 dequantized
// weights, f32 activations and sums; past kGemvMaxBatch rows, weights and activations
// rounded to f16 first, as gemm_quant does) against this oracle, over every case below:
//  - the f32 path (f32 weights, or batches of at most 8 tokens: max_batch 4), f32 KV:
//    max |dlogit| 1.9e-5, rms/std 1.5e-6 -> bounds 2e-4, 2e-5; f16/bf16/q8_0 KV (an f32
//    sum-order difference may flip the rounding of a cached element): 3.1e-3, 1.0e-4 ->
//    2e-2, 1e-3;
//  - the f16 GEMM path (quantized or f16 weights, max_batch 512: the 13-token prefill
//    chunks): 0.052, rms/std 6.4e-3 -> 0.25, 0.025.
// The room (4-10x) is for the GPU's own sum orders, tensor-core accumulation and its
// expf/cosf (2 ulp).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/context.h"
#include "engine/device_compare.h"
#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "gpu/allocator.h"
#include "gpu_engine_util.h"
#include "test_data.h"

namespace tandem {
namespace {

using testing::CaseName;
using testing::Difference;
using testing::four_sequence_steps;
using testing::greedy_agreement;
using testing::load_model;
using testing::logit_difference;
using testing::make_plan;
using testing::ModelCase;
using testing::Placement;
using testing::stories_path;
using testing::Tolerance;

// The bound for a model whose matrices are of `weights` (f32: cuBLAS SGEMM whatever the
// batch), run in batches of up to `max_batch` tokens, with a KV cache of `kv`.
Tolerance tolerance_for(DType weights, int32_t max_batch, DType kv) {
  if (weights != DType::kF32 && max_batch > 8) return {0.25, 0.025};  // the f16 GEMM path
  return kv == DType::kF32 ? Tolerance{2e-4, 2e-5} : Tolerance{2e-2, 1e-3};
}

// The type of the model's layer matrices (f32 or not is what matters).
DType matrix_type(const Model& m) { return m.layers().front().wq.type; }

class CudaContext : public testing::CudaBackendTest<> {
 protected:
  std::unique_ptr<Context> device_context(const Model& m, const ContextConfig& cc, const MemoryPlan& p) {
    return testing::device_context(m, cc, p, backend());
  }
};

// ---- placements over models

class CudaPlacements : public CudaContext, public ::testing::WithParamInterface<ModelCase> {};

// Full offload runs the model's own weights on the GPU against the CPU on the f32 copy.
// Placements that leave layers on the CPU run both contexts on the f32 copy (so the CPU
// layers compute alike; its GPU layers take the f32 path, cuBLAS SGEMM): they check the
// split itself, the hand-over of the hidden state, the KV caches kept apart and the
// head alone.
TEST_P(CudaPlacements, MatchTheCpuOnDequantizedWeights) {
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  auto f32_model = testing::load_f32_copy(path);
  ASSERT_NE(f32_model, nullptr);
  const int32_t n_layer = model->config().n_layer;
  ContextConfig cc;
  cc.n_ctx = 40;
  cc.n_seq = 4;
  cc.n_threads = 2;
  cc.block_tokens = 4;
  cc.kv_type = GetParam().kv;
  struct Run {
    Placement pl;
    bool own_weights;  // the model's weights on the GPU (else the f32 copy's)
  };
  const std::vector<Run> runs = {
      {{"full offload", n_layer}, true},
      {{"full offload, batches of 4 tokens", n_layer, 0, 4}, true},
      {{"1 layer (f32 copy)", 1}, false},
      {{"all but one layer (f32 copy)", n_layer - 1}, false},
      {{"head only, auto (f32 copy)", std::nullopt, 0}, false},
      {{"auto, budget for 1 layer (f32 copy)", std::nullopt, 1}, false},
      {{"1 layer, batches of 4 tokens (f32 copy)", 1, 0, 4}, false},
  };
  for (const Run& r : runs) {
    const Placement& pl = r.pl;
    SCOPED_TRACE(pl.name);
    const Model& dev_model = r.own_weights ? *model : *f32_model;
    const MemoryPlan plan = make_plan(dev_model, cc, pl);
    if (!pl.layers) {
      EXPECT_EQ(plan.gpu_layers, pl.auto_layers);
      EXPECT_TRUE(plan.output_on_gpu);
    }
    auto ref = Context::create(*f32_model, cc);
    ASSERT_TRUE(ref) << ref.error().message();
    auto dev = device_context(dev_model, cc, plan);
    ASSERT_NE(dev, nullptr);
    EXPECT_EQ(dev->cpu_layers(), n_layer - plan.gpu_layers);
    const Difference diff = logit_difference(**ref, *dev, four_sequence_steps(model->config().n_vocab));
    const Tolerance tol = tolerance_for(r.own_weights ? matrix_type(*model) : DType::kF32, pl.max_batch, cc.kv_type);
    std::printf("[ cuda ] %-52s KV %-5s %-40s max |dlogit| %.3g, rms/std %.2g (bounds %.3g, %.2g)\n",
                GetParam().model.c_str(), std::string(dtype_name(cc.kv_type)).c_str(), pl.name.c_str(), diff.max_abs,
                diff.rel_rms(), tol.abs, tol.rel_rms);
    EXPECT_LE(diff.max_abs, tol.abs);
    EXPECT_LE(diff.rel_rms(), tol.rel_rms);
    EXPECT_EQ(dev->device_allocator()->high_water(), plan.total()) << "the device holds exactly the plan";
    EXPECT_EQ(dev->device_allocator()->used(), plan.total() - plan.total(PlanKind::kGraphs))
        << "all of it, less the CUDA graph reserve handed back to the driver";
  }
}

// Greedy continuations of 32 tokens from a 13-token prompt (the f16 path), the model's
// weights fully on the GPU: both contexts are fed the oracle's token, and the GPU's top
// token must be the oracle's wherever the oracle's top-2 margin exceeds twice the bound.
TEST_P(CudaPlacements, GreedyContinuationsAgree) {
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  auto f32_model = testing::load_f32_copy(path);
  ASSERT_NE(f32_model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 64;
  cc.n_threads = 2;
  cc.kv_type = GetParam().kv;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", model->config().n_layer});
  const Tolerance tol = tolerance_for(matrix_type(*model), plan.config.max_batch, cc.kv_type);
  auto ref = Context::create(*f32_model, cc);
  ASSERT_TRUE(ref);
  auto dev = device_context(*model, cc, plan);
  ASSERT_NE(dev, nullptr);
  constexpr int kSteps = 32;
  const int compared =
      greedy_agreement(**ref, *dev, {1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100}, kSteps, 2 * tol.abs);
  std::printf("[ cuda ] %-52s greedy: %d of %d steps had a margin over %.3g\n", GetParam().model.c_str(), compared,
              kSteps, 2 * tol.abs);
  EXPECT_GE(compared, kSteps / 4) << "too few steps had a clear top token to compare";
}

INSTANTIATE_TEST_SUITE_P(Models, CudaPlacements,
                         ::testing::Values(ModelCase{"models/stories260K.gguf", DType::kF32},
                                           ModelCase{"models/stories260K.gguf", DType::kF16},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_0.gguf", DType::kF16},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_0.gguf", DType::kF32},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_k_m.gguf", DType::kQ8_0},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-f16.gguf", DType::kF16},
                                           ModelCase{"models/synthetic/tiny-llama-spm512-untied-q4_k_m.gguf", DType::kBF16},
                                           ModelCase{"models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf", DType::kF32},
                                           ModelCase{"models/synthetic/tiny-qwen2-bpe4k-q4_k_m.gguf", DType::kF16}),
                         CaseName());

// ---- memory: exactly the plan, and nothing when it cannot fit

TEST_F(CudaContext, AllocatesExactlyThePlanAndFreesItAll) {
  TANDEM_REQUIRE_DATA(stories_path());
  testing::expect_holds_exactly_the_plan(backend());
}

TEST_F(CudaContext, AnAllocatorSmallerThanThePlanIsRefusedAndLeftEmpty) {
  TANDEM_REQUIRE_DATA(stories_path());
  testing::expect_small_allocator_refused(backend());
}

// A weight type no kernel multiplies is refused, naming the tensor, before anything is
// allocated: stories260K's f32 attn_q relabelled i32 (the same bytes, so the description
// itself is valid).
TEST_F(CudaContext, AWeightTypeWithoutAKernelIsRefusedUpFront) {
  TANDEM_REQUIRE_DATA(stories_path());
  auto model = load_model(stories_path());
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 64;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", 2});
  auto desc = executor_desc(plan, *model);
  ASSERT_TRUE(desc) << desc.error().message();
  desc->layers.back().wq.type = DType::kI32;
  ASSERT_TRUE(gpu::check_executor_desc(*desc)) << "the description stays valid";
  auto alloc = backend().make_allocator(plan.total());
  ASSERT_TRUE(alloc);
  auto e = backend().create_executor(*desc, **alloc);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Code::kUnsupported) << e.error().message();
  EXPECT_NE(e.error().message().find("blk.4.attn_q"), std::string::npos) << e.error().message();
  EXPECT_EQ((*alloc)->high_water(), 0u);
}

}  // namespace
}  // namespace tandem
