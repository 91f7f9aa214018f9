// StepProfile: a Context with a profile counts its forward passes, times every op, and
// charges each matrix op the bytes of exactly the matrices it reads; generation benchmarks
// fill it only for the counted repetitions; without a profile nothing is recorded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/benchmark.h"
#include "engine/runtime.h"
#include "engine/step_profile.h"
#include "test_data.h"

namespace tandem {
namespace {

constexpr const char* kModel = "models/synthetic/tiny-llama-spm512-q4_k_m.gguf";

size_t op(StepOp o) { return static_cast<size_t>(o); }

// Bytes of the tensors named `name`, or of every layer's "blk.N.<name>", straight from
// the GGUF tensor list.
uint64_t tensor_bytes(const Model& m, const std::string& name) {
  uint64_t total = 0;
  for (const gguf::TensorInfo& t : m.file().tensors()) {
    const bool layer = t.name.rfind("blk.", 0) == 0 && t.name.size() > name.size() + 1 &&
                       t.name.compare(t.name.size() - name.size() - 1, name.size() + 1, "." + name) == 0;
    if (t.name == name || layer) total += t.nbytes;
  }
  return total;
}

TEST(StepProfile, ChargesEachOpItsMatrices) {
  const std::string path = testing::test_data_path(kModel);
  TANDEM_REQUIRE_DATA(path);
  ContextConfig cc;
  cc.n_ctx = 64;
  cc.n_threads = 2;
  auto rt = open_runtime(path, cc);
  ASSERT_TRUE(rt) << rt.error().message();
  Context& ctx = *rt->context;
  const Model& m = *rt->model;

  StepProfile p;
  ctx.set_profile(&p);
  const std::vector<int32_t> prompt = {1, 17, 99, 240, 5};
  ASSERT_TRUE(ctx.decode(prompt, false));
  const int32_t one[1] = {42};
  ASSERT_TRUE(ctx.decode(one, false));
  ctx.set_profile(nullptr);
  ASSERT_TRUE(ctx.decode(one, false));  // not counted

  EXPECT_EQ(p.passes, 2);
  const uint64_t passes = 2;
  EXPECT_EQ(p.weight_bytes[op(StepOp::kQkv)],
            passes * (tensor_bytes(m, "attn_q.weight") + tensor_bytes(m, "attn_k.weight") + tensor_bytes(m, "attn_v.weight")));
  EXPECT_EQ(p.weight_bytes[op(StepOp::kAttnOut)], passes * tensor_bytes(m, "attn_output.weight"));
  EXPECT_EQ(p.weight_bytes[op(StepOp::kGateUp)],
            passes * (tensor_bytes(m, "ffn_gate.weight") + tensor_bytes(m, "ffn_up.weight")));
  EXPECT_EQ(p.weight_bytes[op(StepOp::kDown)], passes * tensor_bytes(m, "ffn_down.weight"));
  const uint64_t out = m.tied_output() ? tensor_bytes(m, "token_embd.weight") : tensor_bytes(m, "output.weight");
  EXPECT_EQ(p.weight_bytes[op(StepOp::kOutput)], passes * out);
  // One embedding row per token: 6 tokens in all.
  EXPECT_EQ(p.weight_bytes[op(StepOp::kEmbed)], 6 * tensor_bytes(m, "token_embd.weight") /
                                                    static_cast<uint64_t>(m.config().n_vocab));
  for (StepOp o : {StepOp::kNorm, StepOp::kRopeKv, StepOp::kAttention, StepOp::kSiluMul, StepOp::kResidual})
    EXPECT_EQ(p.weight_bytes[op(o)], 0u) << step_op_name(o);
  for (int i = 0; i < static_cast<int>(StepOp::kCount); ++i)
    EXPECT_GT(p.seconds[static_cast<size_t>(i)], 0.0) << step_op_name(static_cast<StepOp>(i));
  double sum = 0;
  for (double s : p.seconds) sum += s;
  EXPECT_DOUBLE_EQ(p.total_seconds(), sum);
}

TEST(StepProfile, GenerationBenchmarkCountsOnlyTimedSteps) {
  const std::string path = testing::test_data_path(kModel);
  TANDEM_REQUIRE_DATA(path);
  ContextConfig cc;
  cc.n_ctx = 32;
  cc.n_threads = 1;
  auto rt = open_runtime(path, cc);
  ASSERT_TRUE(rt) << rt.error().message();
  auto r = bench_generation(*rt->context, 8, 3, 1, /*profile=*/true);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->profile.passes, 3 * 8);  // the warm-up repetition is not counted
  EXPECT_GT(r->seconds, 0.0);
  EXPECT_LE(r->profile.total_seconds(), r->seconds);  // the ops run inside the timed steps
  auto plain = bench_generation(*rt->context, 8, 1, 1);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->profile.passes, 0);
  EXPECT_EQ(plain->profile.total_seconds(), 0.0);
}

}  // namespace
}  // namespace tandem
