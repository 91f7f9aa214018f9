// CUDA graphs of decode steps (gpu/cuda/cuda_executor.h): two CUDA executors made from
// the same plan, one with graphs (ExecutorDesc::graphs) and one without, run the same
// calls (prompts of several hundred tokens through the prefill path, then decode steps
// of 3, 2 and 1 sequences whose contexts cross blocks and split-K chunks, and the
// hidden state after the first layer) and must give the same bits, logits and hidden
// state alike; the one with graphs must have captured each decode shape once (after one
// direct warm-up) and replayed it after, within the plan's graph reserve, and the one
// without must have launched every chunk directly. Skips without a CUDA device (and
// where TANDEM_CUDA_GRAPHS=0 turns graphs off for the process).
//
// The context limit (1024 keys) lets decode attention split (up to 4 chunks of 256
// keys): the graph-shaped chunks' plan is the same, fixed one with graphs on and off.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "engine/device_compare.h"
#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "gpu_engine_util.h"
#include "test_data.h"

namespace tandem {
namespace {

using testing::CaseName;
using testing::load_model;
using testing::ModelCase;

using Seq = testing::ExecSeq;
using Call = testing::ExecCall;

class Pair : public testing::ExecScriptBase {
 public:
  Pair(gpu::GpuExecutor& on, gpu::GpuExecutor& off, const gpu::ExecModel& m)
      : ExecScriptBase(m, 5), on_(on), off_(off) {}

  // Runs `c` on both; the outputs must be the same bits (and finite).
  void run(const Call& c, const std::string& what) {
    SCOPED_TRACE(what);
    gpu::ExecBatch b = batch(c, on_.first_layer());
    const size_t size = out_size(c);
    std::vector<float> with(size, NAN), without(size, NAN);
    b.out = with.data();
    const Status s1 = on_.run(b);
    ASSERT_TRUE(s1) << s1.error().message();
    b.out = without.data();
    const Status s2 = off_.run(b);
    ASSERT_TRUE(s2) << s2.error().message();
    size_t differ = 0, first = size;
    for (size_t i = 0; i < size; ++i)
      if (std::memcmp(&with[i], &without[i], sizeof(float)) != 0 && differ++ == 0) first = i;
    EXPECT_EQ(differ, 0u) << "values differ between graphs on and off; the first at " << first << ": "
                          << (first < size ? with[first] : 0.f) << " vs " << (first < size ? without[first] : 0.f);
    EXPECT_TRUE(std::all_of(with.begin(), with.end(), [](float v) { return std::isfinite(v); }));
    ++calls_;
  }
  int calls() const { return calls_; }

 private:
  gpu::GpuExecutor& on_;
  gpu::GpuExecutor& off_;
  int calls_ = 0;
};

using CudaGraphs = testing::CudaBackendTest<::testing::TestWithParam<ModelCase>>;

TEST_P(CudaGraphs, ReplayedDecodeStepsGiveTheSameBitsAsDirectLaunches) {
  if (const char* v = std::getenv("TANDEM_CUDA_GRAPHS"); v != nullptr && std::string_view(v) == "0")
    GTEST_SKIP() << "TANDEM_CUDA_GRAPHS=0: graphs are off for this process";
  const std::string path = testing::test_data_path(GetParam().model);
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  auto pm = plan_model_of(model->file());
  ASSERT_TRUE(pm) << pm.error().message();
  MemoryPlanConfig c;
  c.n_ctx = 1024;
  c.n_seq = 3;
  c.block_tokens = 16;
  c.kv_type = GetParam().kv;
  c.max_batch = 512;
  c.gpu_layers = model->config().n_layer;
  auto plan = plan_memory(*pm, c);
  ASSERT_TRUE(plan) << plan.error().message();
  auto desc = executor_desc(*plan, *model);
  ASSERT_TRUE(desc) << desc.error().message();
  gpu::ExecutorDesc desc_off = *desc;
  desc_off.graphs = false;

  auto alloc_on = backend().make_allocator(plan->total());
  auto alloc_off = backend().make_allocator(plan->total());
  ASSERT_TRUE(alloc_on && alloc_off);
  auto on = backend().create_executor(*desc, **alloc_on);
  ASSERT_TRUE(on) << on.error().message();
  auto off = backend().create_executor(desc_off, **alloc_off);
  ASSERT_TRUE(off) << off.error().message();
  ASSERT_TRUE((*on)->stats().graphs_on);
  ASSERT_FALSE((*off)->stats().graphs_on);
  EXPECT_EQ((*on)->stats().returned_bytes, plan->total(PlanKind::kGraphs)) << "the reserve goes to the driver";

  const gpu::ExecModel& m = desc->model;
  const int32_t bps = desc->act.blocks_per_seq;
  Pair p(**on, **off, m);
  std::vector<int32_t> perm(static_cast<size_t>(desc->kv.n_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(3));
  std::vector<Seq> seqs(3);
  for (size_t i = 0; i < seqs.size(); ++i)
    seqs[i].table.assign(perm.begin() + static_cast<ptrdiff_t>(i) * bps, perm.begin() + static_cast<ptrdiff_t>(i + 1) * bps);

  // Prompts of 300, 250 and 5 tokens: 555 rows, two chunks of max_batch.
  Call prompt;
  p.add(prompt, seqs[0], 300);
  p.add(prompt, seqs[1], 250);
  p.add(prompt, seqs[2], 5);
  prompt.x = p.random_x(555);
  prompt.out_rows = {299, 549, 554};
  p.run(prompt, "prompts");

  // Decode: 6 steps of all three sequences, 4 of sequences 0 and 2, 4 of sequence 1
  // (its context passes 256, a split-K chunk boundary, on the way).
  const auto step = [&](std::vector<size_t> which, const std::string& what) {
    Call s;
    for (size_t i : which) p.add(s, seqs[i], 1);
    s.x = p.random_x(static_cast<int64_t>(which.size()));
    for (int64_t r = static_cast<int64_t>(which.size()); r-- > 0;) s.out_rows.push_back(r);
    p.run(s, what);
  };
  for (int i = 0; i < 6; ++i) step({0, 1, 2}, "3 sequences, step " + std::to_string(i));
  for (int i = 0; i < 4; ++i) step({0, 2}, "2 sequences, step " + std::to_string(i));
  for (int i = 0; i < 4; ++i) step({1}, "1 sequence, step " + std::to_string(i));
  // The hidden state after the first layer only: another key (another layer range).
  for (int i = 0; i < 3; ++i) {
    Call h;
    p.add(h, seqs[2], 1);
    h.x = p.random_x(1);
    h.n_layers = 1;
    h.logits = false;
    p.run(h, "hidden state after one layer, step " + std::to_string(i));
  }
  ASSERT_EQ(p.calls(), 18);

  const gpu::ExecutorStats s = (*on)->stats();
  const gpu::ExecutorStats d = (*off)->stats();
  std::printf("[ cuda ] %-46s graphs: %lld captured, %lld replays, %lld direct chunks; estimated %llu bytes, "
              "measured %llu (reserve %llu)\n",
              GetParam().model.c_str(), static_cast<long long>(s.graph_captures), static_cast<long long>(s.graph_replays),
              static_cast<long long>(s.direct_chunks), static_cast<unsigned long long>(s.graph_bytes),
              static_cast<unsigned long long>(s.graph_measured_bytes),
              static_cast<unsigned long long>(plan->total(PlanKind::kGraphs)));
  EXPECT_EQ(s.graph_failures, 0) << "stderr names the failure";
  EXPECT_EQ(s.graph_refusals, 0);
  // Shapes (3 tokens), (2), (1) over every layer and (1) over the first: each runs
  // directly once, is captured (and launched) the second time, replayed after.
  EXPECT_EQ(s.graph_captures, 4);
  EXPECT_EQ(s.graphs_cached, 4);
  EXPECT_EQ(s.graph_replays, (6 - 1) + (4 - 1) + (4 - 1) + (3 - 1));
  EXPECT_EQ(s.direct_chunks, 2 + 4) << "the prompt's two chunks and each shape's first chunk";
  EXPECT_GT(s.graph_bytes, 0u);
  EXPECT_LE(s.graph_bytes, plan->total(PlanKind::kGraphs));
  EXPECT_EQ(d.graph_replays, 0);
  EXPECT_EQ(d.graph_captures, 0);
  EXPECT_EQ(d.direct_chunks, 2 + 6 + 4 + 4 + 3);
  EXPECT_EQ((*alloc_on)->high_water(), plan->total()) << "graphs allocate nothing through the allocator";
  EXPECT_EQ((*alloc_on)->used(), plan->total() - plan->total(PlanKind::kGraphs));
  EXPECT_EQ((*alloc_off)->used(), plan->total() - plan->total(PlanKind::kGraphs));
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGraphs,
                         ::testing::Values(ModelCase{"models/stories260K.gguf", DType::kF16},  // f32: cuBLAS captured
                                           ModelCase{"models/synthetic/tiny-llama-spm512-q4_k_m.gguf", DType::kQ8_0},
                                           ModelCase{"models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf", DType::kF32}),
                         CaseName());

}  // namespace
}  // namespace tandem
