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
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/context.h"
#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "gpu/allocator.h"
#include "gpu_engine_util.h"
#include "test_data.h"

namespace tandem {
namespace {

struct Tolerance {
  double abs;
  double rel_rms;
};

// The bound for a model whose matrices are of `weights` (f32: cuBLAS SGEMM whatever the
// batch), run in batches of up to `max_batch` tokens, with a KV cache of `kv`.
Tolerance tolerance_for(DType weights, int32_t max_batch, DType kv) {
  if (weights != DType::kF32 && max_batch > 8) return {0.25, 0.025};  // the f16 GEMM path
  return kv == DType::kF32 ? Tolerance{2e-4, 2e-5} : Tolerance{2e-2, 1e-3};
}

// The type of the model's layer matrices (f32 or not is what matters).
DType matrix_type(const Model& m) { return m.layers().front().wq.type; }

std::unique_ptr<Model> load(const std::string& path) {
  auto m = Model::load(path);
  EXPECT_TRUE(m) << path << ": " << (m ? "" : m.error().message());
  return m ? std::move(*m) : nullptr;
}

MemoryPlanConfig plan_config(const ContextConfig& cc, std::optional<int32_t> layers, std::optional<uint64_t> budget,
                             int32_t max_batch) {
  MemoryPlanConfig c;
  c.n_ctx = cc.n_ctx;
  c.n_seq = cc.n_seq;
  c.block_tokens = cc.block_tokens;
  c.kv_type = cc.kv_type;
  c.gpu_layers = layers;
  c.budget = budget;
  c.max_batch = max_batch;
  return c;
}

struct Placement {
  std::string name;
  std::optional<int32_t> layers;  // nullopt: auto, budget for `auto_layers`
  int32_t auto_layers = 0;
  int32_t max_batch = 512;
};

// The fixed parts and head of the full-offload plan, plus the last `n` layers.
uint64_t budget_for(const PlanModel& pm, MemoryPlanConfig c, int32_t n) {
  c.gpu_layers = pm.config.n_layer;
  c.budget.reset();
  auto full = plan_memory(pm, c);
  EXPECT_TRUE(full) << full.error().message();
  uint64_t b = 0;
  for (const PlanItem& it : full->items) {
    const bool layer_item = it.layer >= 0 || it.name == "rope factors";
    if (!layer_item || it.layer >= pm.config.n_layer - n || (it.name == "rope factors" && n > 0)) b += it.bytes;
  }
  return b;
}

MemoryPlan make_plan(const Model& m, const ContextConfig& cc, const Placement& pl) {
  auto pm = plan_model_of(m.file());
  EXPECT_TRUE(pm) << pm.error().message();
  if (!pm) return {};
  MemoryPlanConfig c = plan_config(cc, pl.layers, std::nullopt, pl.max_batch);
  if (!pl.layers) c.budget = budget_for(*pm, c, pl.auto_layers);
  auto p = plan_memory(*pm, c);
  EXPECT_TRUE(p) << p.error().message();
  return p ? std::move(*p) : MemoryPlan{};
}

class CudaContext : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = testing::load_cuda_backend(&why);
    if (!backend_) GTEST_SKIP() << "no CUDA backend: " << why;
  }
  gpu::GpuBackend& backend() { return backend_->backend(); }

  std::unique_ptr<Context> device_context(const Model& m, const ContextConfig& cc, const MemoryPlan& p) {
    auto dl = place_on_device(backend(), p, m);
    EXPECT_TRUE(dl) << dl.error().message();
    if (!dl) return nullptr;
    auto ctx = Context::create(m, cc, std::move(*dl));
    EXPECT_TRUE(ctx) << ctx.error().message();
    return ctx ? std::move(*ctx) : nullptr;
  }

  std::optional<gpu::LoadedBackend> backend_;
};

// ---- batches run on both contexts (as tests/engine/emulated_gpu_test.cpp)

struct Job {
  SeqId seq;
  std::vector<int32_t> tokens;
  bool all_logits;
};
struct Edit {
  enum Kind { kFork, kTruncate } kind;
  SeqId a;
  int32_t b;
};
struct Step {
  std::vector<Edit> edits;
  std::vector<Job> jobs;
};

// 4 sequences, blocks of 4 tokens: prefill chunks of 13 (prefill attention; the f16
// GEMM when max_batch allows), 6 and 5 tokens (decode attention of a causal chunk),
// forks sharing a partial last block, truncation, a late-joining sequence, then decode
// steps of every sequence in one batch.
std::vector<Step> mixed_steps(int32_t n_vocab) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> tok(0, n_vocab - 1);
  const auto toks = [&](size_t n) {
    std::vector<int32_t> t(n);
    for (int32_t& x : t) x = tok(rng);
    return t;
  };
  std::vector<Step> s;
  s.push_back({{}, {{0, toks(13), true}, {1, toks(6), false}}});
  s.push_back({{{Edit::kFork, 0, 2}}, {{2, toks(1), false}, {0, toks(2), true}, {1, toks(5), true}}});
  s.push_back({{{Edit::kTruncate, 0, 9}, {Edit::kFork, 1, 3}}, {{0, toks(3), true}, {3, toks(1), false}}});
  for (int k = 0; k < 5; ++k) {
    std::vector<Job> jobs;
    for (SeqId q : {3, 0, 2, 1}) jobs.push_back({q, toks(1), k % 2 == 0});
    s.push_back({{}, jobs});
  }
  return s;
}

struct Difference {
  double max_abs = 0, sum_sq = 0, sum = 0, sum_ref_sq = 0;
  int64_t n = 0;
  double rel_rms() const {
    if (n == 0) return 0;
    const double mean = sum / static_cast<double>(n);
    const double var = sum_ref_sq / static_cast<double>(n) - mean * mean;
    return std::sqrt(sum_sq / static_cast<double>(n)) / std::sqrt(std::max(var, 1e-30));
  }
};

Difference logit_difference(Context& ref, Context& dev, const std::vector<Step>& steps) {
  Difference diff;
  for (size_t si = 0; si < steps.size(); ++si) {
    SCOPED_TRACE("step " + std::to_string(si));
    for (const Edit& e : steps[si].edits)
      for (Context* c : {&ref, &dev}) {
        if (e.kind == Edit::kFork) c->fork(e.a, e.b);
        else c->truncate(e.a, e.b);
      }
    std::vector<DecodeEntry> entries;
    for (const Job& j : steps[si].jobs) entries.push_back({j.seq, j.tokens, j.all_logits});
    auto want = ref.decode_batch(entries);
    EXPECT_TRUE(want) << want.error().message();
    if (!want) return Difference{INFINITY};
    const std::vector<float> r(want->logits.begin(), want->logits.end());
    auto got = dev.decode_batch(entries);
    EXPECT_TRUE(got) << got.error().message();
    if (!got) return Difference{INFINITY};
    EXPECT_EQ(got->logits.size(), r.size());
    if (got->logits.size() != r.size()) return Difference{INFINITY};
    for (size_t i = 0; i < r.size(); ++i) {
      const double d = std::abs(static_cast<double>(got->logits[i]) - r[i]);
      if (!(d <= diff.max_abs)) diff.max_abs = d;  // NaN too
      diff.sum_sq += d * d;
      diff.sum += r[i];
      diff.sum_ref_sq += static_cast<double>(r[i]) * r[i];
      ++diff.n;
    }
    for (const Job& j : steps[si].jobs) EXPECT_EQ(dev.n_past(j.seq), ref.n_past(j.seq));
  }
  return diff;
}

std::pair<int32_t, float> top2(std::span<const float> l) {
  const auto best = std::max_element(l.begin(), l.end()) - l.begin();
  float second = -INFINITY;
  for (size_t i = 0; i < l.size(); ++i)
    if (static_cast<ptrdiff_t>(i) != best) second = std::max(second, l[i]);
  return {static_cast<int32_t>(best), l[static_cast<size_t>(best)] - second};
}

// ---- placements over models

struct Case {
  std::string model;
  DType kv;
};

class CudaPlacements : public CudaContext, public ::testing::WithParamInterface<Case> {};

// Full offload runs the model's own weights on the GPU against the CPU on the f32 copy.
// Placements that leave layers on the CPU run both contexts on the f32 copy (so the CPU
// layers compute alike; its GPU layers take the f32 path, cuBLAS SGEMM): they check the
// split itself, the hand-over of the hidden state, the KV caches kept apart and the
// head alone.
TEST_P(CudaPlacements, MatchTheCpuOnDequantizedWeights) {
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load(path);
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
    const Difference diff = logit_difference(**ref, *dev, mixed_steps(model->config().n_vocab));
    const Tolerance tol = tolerance_for(r.own_weights ? matrix_type(*model) : DType::kF32, pl.max_batch, cc.kv_type);
    std::printf("[ cuda ] %-52s KV %-5s %-40s max |dlogit| %.3g, rms/std %.2g (bounds %.3g, %.2g)\n",
                GetParam().model.c_str(), std::string(dtype_name(cc.kv_type)).c_str(), pl.name.c_str(), diff.max_abs,
                diff.rel_rms(), tol.abs, tol.rel_rms);
    EXPECT_LE(diff.max_abs, tol.abs);
    EXPECT_LE(diff.rel_rms(), tol.rel_rms);
    EXPECT_EQ(dev->device_allocator()->high_water(), plan.total()) << "the device holds exactly the plan";
    EXPECT_EQ(dev->device_allocator()->used(), plan.total());
  }
}

// Greedy continuations of 32 tokens from a 13-token prompt (the f16 path), the model's
// weights fully on the GPU: both contexts are fed the oracle's token, and the GPU's top
// token must be the oracle's wherever the oracle's top-2 margin exceeds twice the bound.
TEST_P(CudaPlacements, GreedyContinuationsAgree) {
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load(path);
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
  std::vector<int32_t> next = {1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100};
  constexpr int kSteps = 32;
  int compared = 0;
  for (int step = 0; step < kSteps; ++step) {
    auto a = (*ref)->decode(next, false);
    auto b = dev->decode(next, false);
    ASSERT_TRUE(a && b) << (a ? "" : a.error().message()) << (b ? "" : b.error().message());
    const auto [ta, margin] = top2(*a);
    if (margin > 2 * tol.abs) {
      EXPECT_EQ(top2(*b).first, ta) << "step " << step << ", oracle margin " << margin;
      ++compared;
    }
    next = {ta};
  }
  std::printf("[ cuda ] %-52s greedy: %d of %d steps had a margin over %.3g\n", GetParam().model.c_str(), compared,
              kSteps, 2 * tol.abs);
  EXPECT_GE(compared, kSteps / 4) << "too few steps had a clear top token to compare";
}

INSTANTIATE_TEST_SUITE_P(Models, CudaPlacements,
                         ::testing::Values(Case{"models/stories260K.gguf", DType::kF32},
                                           Case{"models/stories260K.gguf", DType::kF16},
                                           Case{"models/synthetic/tiny-llama-spm512-q4_0.gguf", DType::kF16},
                                           Case{"models/synthetic/tiny-llama-spm512-q4_0.gguf", DType::kF32},
                                           Case{"models/synthetic/tiny-llama-spm512-q4_k_m.gguf", DType::kQ8_0},
                                           Case{"models/synthetic/tiny-llama-spm512-f16.gguf", DType::kF16},
                                           Case{"models/synthetic/tiny-llama-spm512-untied-q4_k_m.gguf", DType::kBF16},
                                           Case{"models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf", DType::kF32},
                                           Case{"models/synthetic/tiny-qwen2-bpe4k-q4_k_m.gguf", DType::kF16}),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           std::string n = p.param.model.substr(p.param.model.find_last_of('/') + 1);
                           n = n.substr(0, n.find(".gguf")) + "_kv_" + std::string(dtype_name(p.param.kv));
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// ---- memory: exactly the plan, and nothing when it cannot fit

std::string stories() { return testing::test_data_path("models/stories260K.gguf"); }

TEST_F(CudaContext, AllocatesExactlyThePlanAndFreesItAll) {
  TANDEM_REQUIRE_DATA(stories());
  auto model = load(stories());
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 256;
  cc.n_seq = 2;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", 3});
  auto dl = place_on_device(backend(), plan, *model);
  ASSERT_TRUE(dl) << dl.error().message();
  const gpu::Allocator& a = *dl->allocator;
  EXPECT_EQ(a.budget(), plan.total());
  EXPECT_EQ(a.used(), plan.total());
  EXPECT_EQ(a.high_water(), plan.total());
  EXPECT_EQ(a.live_buffers(), static_cast<int64_t>(plan.items.size()));
  auto ctx = Context::create(*model, cc, std::move(*dl));
  ASSERT_TRUE(ctx) << ctx.error().message();
  const std::vector<int32_t> prompt = {1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  ASSERT_TRUE((*ctx)->decode(prompt, true));
  ASSERT_TRUE((*ctx)->decode({{5}}, false));
  EXPECT_EQ((*ctx)->device_allocator()->high_water(), plan.total()) << "running allocates nothing more";
  EXPECT_EQ((*ctx)->device_allocator()->used(), plan.total());
}

TEST_F(CudaContext, AnAllocatorSmallerThanThePlanIsRefusedAndLeftEmpty) {
  TANDEM_REQUIRE_DATA(stories());
  auto model = load(stories());
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 64;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", 5});
  auto desc = executor_desc(plan, *model);
  ASSERT_TRUE(desc) << desc.error().message();
  auto small = backend().make_allocator(plan.total() - 1);
  ASSERT_TRUE(small) << small.error().message();
  auto e = backend().create_executor(*desc, **small);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Code::kOutOfMemory);
  EXPECT_NE(e.error().message().find("over the GPU memory budget"), std::string::npos) << e.error().message();
  EXPECT_EQ((*small)->used(), 0u);
  EXPECT_EQ((*small)->live_buffers(), 0);
  EXPECT_EQ((*small)->high_water(), plan.total() - plan.items.back().bytes) << "all but the last allocation were made";
}

// A weight type no kernel multiplies is refused, naming the tensor, before anything is
// allocated: stories260K's f32 attn_q relabelled i32 (the same bytes, so the description
// itself is valid).
TEST_F(CudaContext, AWeightTypeWithoutAKernelIsRefusedUpFront) {
  TANDEM_REQUIRE_DATA(stories());
  auto model = load(stories());
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
