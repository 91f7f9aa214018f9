// Scaffolding shared by the tests that run part of a model on a device executor and
// compare it with a reference Context (tests/engine/emulated_gpu_test.cpp,
// tests/gpu_engine/cuda_context_test.cpp, tests/gpu_engine/cuda_executor_test.cpp) and by
// the batched decode tests (tests/engine/decode_batch_test.cpp): loading a model, the
// test names of model cases, memory plans for a placement and a context on the device,
// scripted batches (jobs, forks, truncation) run on two contexts, the logit difference
// and top-2 margin, the greedy agreement loop, and the memory checks every device must
// pass. The bounds stay with each test: they depend on what is compared.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/context.h"
#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "gpu/allocator.h"
#include "gpu/backend.h"
#include "test_data.h"

namespace tandem::testing {

// ---- models and test names

inline std::unique_ptr<Model> load_model(const std::string& path) {
  auto m = Model::load(path);
  EXPECT_TRUE(m) << path << ": " << (m ? "" : m.error().message());
  return m ? std::move(*m) : nullptr;
}

inline std::string stories_path() { return test_data_path("models/stories260K.gguf"); }

// A model file (relative to the test data) and the KV cache type to run it with.
struct ModelCase {
  std::string model;
  DType kv;
};

// "models/synthetic/tiny-llama-spm512-q4_0.gguf" -> "tiny_llama_spm512_q4_0".
inline std::string case_name(const std::string& model) {
  std::string n = model.substr(model.find_last_of('/') + 1);
  n = n.substr(0, n.find(".gguf"));
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

// ... + "_kv_f16".
inline std::string case_name(const ModelCase& c) { return case_name(c.model) + "_kv_" + std::string(dtype_name(c.kv)); }

// The name generator of INSTANTIATE_TEST_SUITE_P over model files or ModelCases.
struct CaseName {
  template <typename T>
  std::string operator()(const ::testing::TestParamInfo<T>& p) const {
    return case_name(p.param);
  }
};

// ---- plans and device contexts

// Bounds on max |Δlogit| and on rms(Δ) / std(logits) over all compared logits.
struct Tolerance {
  double abs;
  double rel_rms;
};

inline PlanModel plan_model(const Model& m) {
  auto pm = plan_model_of(m.file());
  EXPECT_TRUE(pm) << pm.error().message();
  return pm ? *pm : PlanModel{};
}

// The plan config matching a context config.
inline MemoryPlanConfig plan_config(const ContextConfig& cc, std::optional<int32_t> layers,
                                    std::optional<uint64_t> budget) {
  MemoryPlanConfig c;
  c.n_ctx = cc.n_ctx;
  c.n_seq = cc.n_seq;
  c.block_tokens = cc.block_tokens;
  c.kv_type = cc.kv_type;
  c.gpu_layers = layers;
  c.budget = budget;
  return c;
}

// A placement to test: explicit layers, or auto under a budget made of the plan's
// fixed parts, head and `auto_layers` layers (so exactly that many fit).
struct Placement {
  std::string name;
  std::optional<int32_t> layers;  // nullopt: auto
  int32_t auto_layers = 0;        // with auto: layers the budget is made to hold
  int32_t max_batch = 512;
};

// Bytes of the full-offload plan's items that are not layer items, plus the last `n`
// layers' weights and KV (the rope factors, a global, with the first of them).
inline uint64_t budget_for(const PlanModel& pm, MemoryPlanConfig c, int32_t n) {
  c.gpu_layers = pm.config.n_layer;
  c.budget.reset();
  auto full = plan_memory(pm, c);
  EXPECT_TRUE(full) << full.error().message();
  if (!full) return 0;
  uint64_t b = 0;
  for (const PlanItem& it : full->items) {
    const bool layer_item = it.layer >= 0 || it.name == "rope factors";
    if (!layer_item) b += it.bytes;
    if (it.layer >= pm.config.n_layer - n) b += it.bytes;
    if (it.name == "rope factors" && n > 0) b += it.bytes;
  }
  return b;
}

inline MemoryPlan make_plan(const Model& m, const ContextConfig& cc, const Placement& pl) {
  const PlanModel pm = plan_model(m);
  MemoryPlanConfig c = plan_config(cc, pl.layers, std::nullopt);
  c.max_batch = pl.max_batch;
  if (!pl.layers) c.budget = budget_for(pm, c, pl.auto_layers);
  auto p = plan_memory(pm, c);
  EXPECT_TRUE(p) << p.error().message();
  return p ? std::move(*p) : MemoryPlan{};
}

// A context of `m` whose plan-placed layers run on `backend`; nullptr (with a failed
// expectation) when placing or creating fails.
inline std::unique_ptr<Context> device_context(const Model& m, const ContextConfig& cc, const MemoryPlan& p,
                                               gpu::GpuBackend& backend) {
  auto dl = place_on_device(backend, p, m);
  EXPECT_TRUE(dl) << dl.error().message();
  if (!dl) return nullptr;
  auto ctx = Context::create(m, cc, std::move(*dl));
  EXPECT_TRUE(ctx) << ctx.error().message();
  return ctx ? std::move(*ctx) : nullptr;
}

// ---- scripted batches run on two contexts

// One entry of a step: run `tokens` on sequence `seq`.
struct Job {
  SeqId seq;
  std::vector<int32_t> tokens;
  bool all_logits;
};

// Something done to both contexts between steps.
struct Edit {
  enum Kind { kFork, kTruncate } kind;
  SeqId a;    // fork: source; truncate: the sequence
  int32_t b;  // fork: destination; truncate: tokens kept
};

struct Step {
  std::vector<Edit> edits;  // before the step's decode
  std::vector<Job> jobs;
};

inline void apply(Context& ctx, const Edit& e) {
  if (e.kind == Edit::kFork) ctx.fork(e.a, e.b);
  else ctx.truncate(e.a, e.b);
}

inline std::vector<DecodeEntry> entries_of(const std::vector<Job>& jobs) {
  std::vector<DecodeEntry> entries;
  for (const Job& j : jobs) entries.push_back({j.seq, j.tokens, j.all_logits});
  return entries;
}

inline std::vector<int32_t> random_tokens(std::mt19937& rng, int32_t n_vocab, size_t n) {
  std::uniform_int_distribution<int32_t> d(0, n_vocab - 1);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = d(rng);
  return t;
}

// 4 sequences, blocks of 4 tokens: prefill chunks of 13 (prefill attention; on a GPU the
// f16 GEMM when max_batch allows), 6 and 5 tokens (decode attention of a causal chunk),
// with all logits and the last only, forks sharing a partial last block (copied on write
// at the next token, mirrored on the device), truncation, a late-joining sequence, then
// decode steps of every sequence in one batch.
inline std::vector<Step> four_sequence_steps(int32_t n_vocab) {
  std::mt19937 rng(5);
  const auto toks = [&](size_t n) { return random_tokens(rng, n_vocab, n); };
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
  double max_abs = 0;
  double sum_sq = 0;               // of Δ
  double sum = 0, sum_ref_sq = 0;  // of the reference logits
  int64_t n = 0;
  double rel_rms() const {
    if (n == 0) return 0;
    const double mean = sum / static_cast<double>(n);
    const double var = sum_ref_sq / static_cast<double>(n) - mean * mean;
    return std::sqrt(sum_sq / static_cast<double>(n)) / std::sqrt(std::max(var, 1e-30));
  }
};

// Runs `steps` on both contexts (one decode_batch per step on each) and compares every
// logits row of `dev` with `ref`'s; the rows' layout and n_past must be equal.
inline Difference logit_difference(Context& ref, Context& dev, const std::vector<Step>& steps) {
  Difference diff;
  for (size_t si = 0; si < steps.size(); ++si) {
    SCOPED_TRACE("step " + std::to_string(si));
    for (const Edit& e : steps[si].edits) {
      apply(ref, e);
      apply(dev, e);
    }
    const std::vector<DecodeEntry> entries = entries_of(steps[si].jobs);
    auto want = ref.decode_batch(entries);
    EXPECT_TRUE(want) << want.error().message();
    if (!want) return Difference{INFINITY};
    const std::vector<float> r(want->logits.begin(), want->logits.end());
    const std::vector<int64_t> first(want->first_row.begin(), want->first_row.end());
    auto got = dev.decode_batch(entries);
    EXPECT_TRUE(got) << got.error().message();
    if (!got) return Difference{INFINITY};
    EXPECT_EQ(std::vector<int64_t>(got->first_row.begin(), got->first_row.end()), first);
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

// ---- greedy agreement

// The top token of a logits row and its margin over the second.
inline std::pair<int32_t, float> top2(std::span<const float> l) {
  const auto best = std::max_element(l.begin(), l.end()) - l.begin();
  float second = -INFINITY;
  for (size_t i = 0; i < l.size(); ++i)
    if (static_cast<ptrdiff_t>(i) != best) second = std::max(second, l[i]);
  return {static_cast<int32_t>(best), l[static_cast<size_t>(best)] - second};
}

// A greedy continuation of `n_steps` tokens after `prompt` (sequence 0): both contexts
// are fed the reference's greedy token, and the device's top token must be the
// reference's at every step where the reference's top-2 margin exceeds `min_margin` (a
// nearer tie may go either way). Returns the number of steps compared (-1 when a decode
// failed, with a failed expectation).
inline int greedy_agreement(Context& ref, Context& dev, std::vector<int32_t> prompt, int n_steps, double min_margin) {
  std::vector<int32_t> next = std::move(prompt);
  int compared = 0;
  for (int step = 0; step < n_steps; ++step) {
    auto a = ref.decode(next, false);
    auto b = dev.decode(next, false);
    EXPECT_TRUE(a && b) << (a ? "" : a.error().message()) << (b ? "" : b.error().message());
    if (!a || !b) return -1;
    const auto [ta, margin] = top2(*a);
    if (margin > min_margin) {
      EXPECT_EQ(top2(*b).first, ta) << "step " << step << ", reference margin " << margin;
      ++compared;
    }
    next = {ta};
  }
  return compared;
}

// ---- memory: what every device backend must do with a plan (on stories260K; the
// caller checks that the file is there)

// The allocator place_on_device makes holds exactly the plan (3 layers and the head),
// and running a prefill and a decode step allocates nothing more.
inline void expect_holds_exactly_the_plan(gpu::GpuBackend& backend) {
  auto model = load_model(stories_path());
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 256;
  cc.n_seq = 2;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", 3});
  auto dl = place_on_device(backend, plan, *model);
  ASSERT_TRUE(dl) << dl.error().message();
  const gpu::Allocator& a = *dl->allocator;
  // Less what the executor handed back to the driver (the CUDA graph reserve).
  const gpu::ExecutorStats st = dl->executor->stats();
  EXPECT_EQ(a.budget(), plan.total());
  EXPECT_EQ(a.used(), plan.total() - st.returned_bytes);
  EXPECT_EQ(a.high_water(), plan.total());
  EXPECT_EQ(a.live_buffers(), static_cast<int64_t>(plan.items.size()) - st.returned_allocations);
  auto ctx = Context::create(*model, cc, std::move(*dl));
  ASSERT_TRUE(ctx) << ctx.error().message();
  const std::vector<int32_t> prompt = {1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  ASSERT_TRUE((*ctx)->decode(prompt, true));
  ASSERT_TRUE((*ctx)->decode({{5}}, false));
  EXPECT_EQ((*ctx)->device_allocator()->high_water(), plan.total()) << "running allocates nothing more";
  EXPECT_EQ((*ctx)->device_allocator()->used(), plan.total() - st.returned_bytes);
}

// An allocator one byte smaller than the plan: create_executor fails with kOutOfMemory
// after making all but the last allocation, and gives every byte back.
inline void expect_small_allocator_refused(gpu::GpuBackend& backend) {
  auto model = load_model(stories_path());
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 64;
  const MemoryPlan plan = make_plan(*model, cc, Placement{"", 5});
  auto desc = executor_desc(plan, *model);
  ASSERT_TRUE(desc) << desc.error().message();
  auto small = backend.make_allocator(plan.total() - 1);
  ASSERT_TRUE(small) << small.error().message();
  auto e = backend.create_executor(*desc, **small);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Code::kOutOfMemory);
  EXPECT_NE(e.error().message().find("over the GPU memory budget"), std::string::npos) << e.error().message();
  EXPECT_EQ((*small)->used(), 0u);
  EXPECT_EQ((*small)->live_buffers(), 0);
  EXPECT_EQ((*small)->high_water(), plan.total() - plan.items.back().bytes) << "all but the last allocation were made";
}

}  // namespace tandem::testing
