// C API: GPU placement (tandem_model_params, the tandem_context_gpu_* queries) on the
// emulated GPU, as the command line's --gpu-* flags do (tests/cli/gpu_*_test.cpp): the
// same budget gives the plan the CLI prints; the emulated GPU's greedy text equals the
// CPU's and its logits are within f32 rounding of them (it runs the reference kernels,
// the CPU the fast ones: tests/engine/emulated_gpu_test.cpp measures 1.5e-5 at most on
// stories260K); a GPU that refuses the model leaves an auto placement on the CPU (bit for
// bit the CPU's logits, and a reason) and makes an explicit layer count an error; an
// explicit count over the budget is refused with the sizes; the defaults on a machine
// without a GPU run on the CPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

constexpr const char* kWhy = "no kernel for this test";

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

tandem_model_params emulated(int32_t n_gpu_layers, uint64_t gpu_mem = 0, const char* refusal = nullptr) {
  tandem_model_params p = tandem_model_default_params();
  p.gpu = TANDEM_GPU_EMULATED;
  p.n_gpu_layers = n_gpu_layers;
  p.gpu_mem = gpu_mem;
  p.gpu_emulate_refusal = refusal;
  return p;
}

constexpr uint64_t MiB(uint64_t n) { return n << 20; }

// A context of n_ctx tokens (0: the default) and kv type.
tandem_status make_context(tandem_model* m, int32_t n_ctx, tandem_kv_type kv, ContextPtr* out) {
  tandem_context_params p = tandem_context_default_params();
  p.n_ctx = n_ctx;
  p.n_threads = 2;
  p.kv_type = kv;
  tandem_context* c = nullptr;
  const tandem_status s = tandem_context_create(m, &p, &c);
  if (s != TANDEM_OK) {
    EXPECT_EQ(c, nullptr);
  }
  out->reset(c);
  return s;
}

int collect(tandem_token token, const char*, size_t, void* user_data) {
  static_cast<std::vector<int32_t>*>(user_data)->push_back(token);
  return 0;
}

std::vector<int32_t> greedy(tandem_context* ctx, int32_t n) {
  std::vector<int32_t> out;
  const tandem_sampler_params sp = greedy_params();
  const tandem_status s =
      tandem_generate(ctx, kPromptTokens.data(), kPromptTokens.size(), n, &sp, collect, &out, nullptr, nullptr);
  EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
  return out;
}

// All logits of the golden prompt, [5, n_vocab].
std::vector<float> prompt_logits(tandem_context* ctx, int32_t n_vocab) {
  const float* logits = nullptr;
  const tandem_status s = tandem_eval(ctx, kPromptTokens.data(), kPromptTokens.size(), 1, &logits);
  EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
  if (s != TANDEM_OK) return {};
  return std::vector<float>(logits, logits + kPromptTokens.size() * static_cast<size_t>(n_vocab));
}

class ApiGpu : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_STORIES(); }
};

TEST_F(ApiGpu, DefaultParams) {
  const tandem_model_params p = tandem_model_default_params();
  EXPECT_EQ(p.n_gpu_layers, TANDEM_GPU_LAYERS_AUTO);
  EXPECT_EQ(p.gpu_device, 0);
  EXPECT_EQ(p.gpu_mem, 0u);
  EXPECT_EQ(p.gpu, TANDEM_GPU_CUDA);
  EXPECT_EQ(p.gpu_emulate_refusal, nullptr);
}

TEST_F(ApiGpu, BadParamsNameTheField) {
  struct Case {
    tandem_model_params p;
    const char* needle;
  };
  std::vector<Case> cases;
  tandem_model_params p = tandem_model_default_params();
  p.n_gpu_layers = -2;
  cases.push_back({p, "params.n_gpu_layers is -2"});
  p = tandem_model_default_params();
  p.gpu_device = -1;
  cases.push_back({p, "params.gpu_device is -1"});
  p = tandem_model_default_params();
  const int bad_kind = 7;
  std::memcpy(&p.gpu, &bad_kind, sizeof bad_kind);
  cases.push_back({p, "params.gpu is 7"});
  p = tandem_model_default_params();
  p.gpu_emulate_refusal = "why";
  cases.push_back({p, "params.gpu_emulate_refusal is set but params.gpu is not TANDEM_GPU_EMULATED"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.needle);
    tandem_model* m = reinterpret_cast<tandem_model*>(&p);  // must become NULL
    EXPECT_EQ(tandem_model_load(stories_path().c_str(), &c.p, &m), TANDEM_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(m, nullptr);
    EXPECT_TRUE(has(tandem_last_error(), c.needle)) << tandem_last_error();
  }
}

// No GPU asked for, or none found: the CPU, 0 layers; the reason only when auto looked.
TEST_F(ApiGpu, DefaultsRunOnTheCpuWhereThereIsNoGpu) {
  ModelPtr m = load_stories(tandem_model_default_params());
  ASSERT_NE(m, nullptr);
  ContextPtr ctx;
  ASSERT_EQ(make_context(m.get(), 512, TANDEM_KV_F32, &ctx), TANDEM_OK) << tandem_last_error();
  const std::string reason = tandem_context_gpu_fallback_reason(ctx.get());
  if (std::string(tandem_context_gpu_name(ctx.get())).empty()) {
    EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), 0);
    EXPECT_EQ(tandem_context_gpu_output(ctx.get()), 0);
    EXPECT_EQ(tandem_context_gpu_bytes(ctx.get()), 0u);
    EXPECT_EQ(reason.rfind("no CUDA device (", 0), 0u) << reason;
    EXPECT_EQ(greedy(ctx.get(), 32), kGreedyTokens);
  } else {  // a machine with a CUDA device: auto placed something there
    EXPECT_EQ(reason, "");
    EXPECT_GT(tandem_context_gpu_bytes(ctx.get()), 0u);
  }

  ModelPtr cpu = load_stories(cpu_params());
  ASSERT_NE(cpu, nullptr);
  ContextPtr cctx;
  ASSERT_EQ(make_context(cpu.get(), 0, TANDEM_KV_F16, &cctx), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_gpu_layers(cctx.get()), 0);
  EXPECT_EQ(tandem_context_gpu_output(cctx.get()), 0);
  EXPECT_EQ(tandem_context_gpu_bytes(cctx.get()), 0u);
  EXPECT_STREQ(tandem_context_gpu_name(cctx.get()), "");
  EXPECT_STREQ(tandem_context_gpu_fallback_reason(cctx.get()), "") << "n_gpu_layers 0 is no fallback";

  EXPECT_EQ(tandem_context_n_gpu_layers(nullptr), -1);
  EXPECT_EQ(tandem_context_gpu_output(nullptr), 0);
  EXPECT_EQ(tandem_context_gpu_bytes(nullptr), 0u);
  EXPECT_STREQ(tandem_context_gpu_name(nullptr), "");
  EXPECT_STREQ(tandem_context_gpu_fallback_reason(nullptr), "");
}

TEST_F(ApiGpu, ExplicitLayersWithoutAGpuAreAnError) {
  {
    ModelPtr probe = load_stories(tandem_model_default_params());
    ASSERT_NE(probe, nullptr);
    ContextPtr ctx;
    ASSERT_EQ(make_context(probe.get(), 64, TANDEM_KV_F16, &ctx), TANDEM_OK) << tandem_last_error();
    if (!std::string(tandem_context_gpu_name(ctx.get())).empty()) GTEST_SKIP() << "this machine has a CUDA device";
  }
  tandem_model_params p = tandem_model_default_params();
  p.n_gpu_layers = 2;
  tandem_model* m = nullptr;
  EXPECT_EQ(tandem_model_load(stories_path().c_str(), &p, &m), TANDEM_ERR_UNSUPPORTED);
  EXPECT_EQ(m, nullptr);
  EXPECT_TRUE(has(tandem_last_error(), "params.n_gpu_layers is 2, but there is no GPU: no CUDA device ("))
      << tandem_last_error();
}

// The budgets of tests/cli/gpu_emulate_cli_test.cpp and what `tandem inspect --plan
// --gpu-mem SIZE [-c N --kv-type T]` prints for them on stories260K: 99 MiB holds the
// fixed parts (97.6 MiB), the 128 KiB head and two layers of 177.5 KiB weights + 258 KiB
// f16 KV for the default 2048 tokens (103506688 bytes in all), or three layers of a
// 512-token f32 cache (103525120 bytes); 98 MiB the head alone (102614784 bytes); 64 MiB
// not even the fixed parts.
TEST_F(ApiGpu, AutoUnderABudgetPlacesWhatTheCliPlans) {
  struct Case {
    uint64_t budget;
    int32_t n_ctx;
    tandem_kv_type kv;
    int32_t layers;
    int output;
    uint64_t bytes;
  };
  for (const Case& c : {Case{MiB(99), 0, TANDEM_KV_F16, 2, 1, 103506688u},
                        Case{MiB(99), 512, TANDEM_KV_F32, 3, 1, 103525120u},
                        Case{MiB(98), 0, TANDEM_KV_F16, 0, 1, 102614784u}}) {
    SCOPED_TRACE("budget " + std::to_string(c.budget) + ", n_ctx " + std::to_string(c.n_ctx));
    ModelPtr m = load_stories(emulated(TANDEM_GPU_LAYERS_AUTO, c.budget));
    ASSERT_NE(m, nullptr);
    ContextPtr ctx;
    ASSERT_EQ(make_context(m.get(), c.n_ctx, c.kv, &ctx), TANDEM_OK) << tandem_last_error();
    EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), c.layers);
    EXPECT_EQ(tandem_context_gpu_output(ctx.get()), c.output);
    EXPECT_EQ(tandem_context_gpu_bytes(ctx.get()), c.bytes);
    EXPECT_STREQ(tandem_context_gpu_name(ctx.get()), "emulated GPU (host memory, reference kernels)");
    EXPECT_STREQ(tandem_context_gpu_fallback_reason(ctx.get()), "");
  }

  ModelPtr m = load_stories(emulated(TANDEM_GPU_LAYERS_AUTO, MiB(64)));
  ASSERT_NE(m, nullptr);
  ContextPtr ctx;
  ASSERT_EQ(make_context(m.get(), 0, TANDEM_KV_F16, &ctx), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), 0);
  EXPECT_EQ(tandem_context_gpu_output(ctx.get()), 0);
  EXPECT_EQ(tandem_context_gpu_bytes(ctx.get()), 0u);
  EXPECT_STREQ(tandem_context_gpu_name(ctx.get()), "");
  EXPECT_STREQ(tandem_context_gpu_fallback_reason(ctx.get()),
               "the GPU memory plan puts nothing on the GPU (the budget (64.00 MiB) cannot hold the fixed parts "
               "(97.74 MiB) and the output head (128.25 KiB): nothing goes on the GPU)");
}

TEST_F(ApiGpu, EmulatedGpuGivesTheCpuResults) {
  ModelPtr cpu = load_stories(cpu_params());
  ASSERT_NE(cpu, nullptr);
  ContextPtr cctx;
  ASSERT_EQ(make_context(cpu.get(), 512, TANDEM_KV_F32, &cctx), TANDEM_OK) << tandem_last_error();
  const int32_t n_vocab = tandem_model_n_vocab(cpu.get());
  const std::vector<float> want = prompt_logits(cctx.get(), n_vocab);
  ASSERT_FALSE(want.empty());

  // auto with no budget: a full offload; explicit counts: the last N layers.
  for (int32_t layers : {TANDEM_GPU_LAYERS_AUTO, 1, 4, 5, 9}) {
    SCOPED_TRACE("n_gpu_layers " + std::to_string(layers));
    ModelPtr m = load_stories(emulated(layers));
    ASSERT_NE(m, nullptr);
    ContextPtr ctx;
    ASSERT_EQ(make_context(m.get(), 512, TANDEM_KV_F32, &ctx), TANDEM_OK) << tandem_last_error();
    const int32_t placed = layers == TANDEM_GPU_LAYERS_AUTO || layers > 5 ? 5 : layers;
    EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), placed);
    EXPECT_EQ(tandem_context_gpu_output(ctx.get()), 1);
    EXPECT_GT(tandem_context_gpu_bytes(ctx.get()), MiB(96));
    const std::vector<float> got = prompt_logits(ctx.get(), n_vocab);
    ASSERT_EQ(got.size(), want.size());
    float worst = 0.f;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
    std::printf("[ emulated ] n_gpu_layers %d: max |logit - CPU's| %.3g\n", layers, worst);
    EXPECT_LE(worst, kF32LogitTol);
    ASSERT_EQ(tandem_context_reset(ctx.get()), TANDEM_OK);
    EXPECT_EQ(greedy(ctx.get(), 32), kGreedyTokens);
  }
}

// The context keeps the model's GPU alive: the model handle may go first.
TEST_F(ApiGpu, ContextsOutliveTheModelHandle) {
  ModelPtr m = load_stories(emulated(2));
  ASSERT_NE(m, nullptr);
  ContextPtr a, b;
  ASSERT_EQ(make_context(m.get(), 512, TANDEM_KV_F32, &a), TANDEM_OK) << tandem_last_error();
  ASSERT_EQ(make_context(m.get(), 64, TANDEM_KV_F16, &b), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_gpu_layers(a.get()), 2);
  EXPECT_EQ(tandem_context_n_gpu_layers(b.get()), 2);
  EXPECT_GT(tandem_context_gpu_bytes(a.get()), tandem_context_gpu_bytes(b.get())) << "each planned for its own KV";
  m.reset();
  EXPECT_EQ(greedy(a.get(), 32), kGreedyTokens);
}

TEST_F(ApiGpu, ARefusingGpuLeavesAutoOnTheCpu) {
  ModelPtr cpu = load_stories(cpu_params());
  ASSERT_NE(cpu, nullptr);
  ContextPtr cctx;
  ASSERT_EQ(make_context(cpu.get(), 512, TANDEM_KV_F32, &cctx), TANDEM_OK) << tandem_last_error();
  const int32_t n_vocab = tandem_model_n_vocab(cpu.get());
  const std::vector<float> want = prompt_logits(cctx.get(), n_vocab);

  for (uint64_t budget : {uint64_t{0}, MiB(99)}) {
    SCOPED_TRACE("gpu_mem " + std::to_string(budget));
    ModelPtr m = load_stories(emulated(TANDEM_GPU_LAYERS_AUTO, budget, kWhy));
    ASSERT_NE(m, nullptr);
    ContextPtr ctx;
    ASSERT_EQ(make_context(m.get(), 512, TANDEM_KV_F32, &ctx), TANDEM_OK) << tandem_last_error();
    EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), 0);
    EXPECT_EQ(tandem_context_gpu_output(ctx.get()), 0);
    EXPECT_EQ(tandem_context_gpu_bytes(ctx.get()), 0u);
    EXPECT_STREQ(tandem_context_gpu_name(ctx.get()), "");
    EXPECT_EQ(std::string(tandem_context_gpu_fallback_reason(ctx.get())),
              std::string("the emulated GPU cannot run this model (") + kWhy + ")");
    const std::vector<float> got = prompt_logits(ctx.get(), n_vocab);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "the CPU path, bit for bit";
    ASSERT_EQ(tandem_context_reset(ctx.get()), TANDEM_OK);
    EXPECT_EQ(greedy(ctx.get(), 32), kGreedyTokens);
  }
}

TEST_F(ApiGpu, ARefusingGpuMakesExplicitLayersAnError) {
  ModelPtr m = load_stories(emulated(3, 0, kWhy));
  ASSERT_NE(m, nullptr);
  ContextPtr ctx;
  EXPECT_EQ(make_context(m.get(), 512, TANDEM_KV_F32, &ctx), TANDEM_ERR_UNSUPPORTED);
  EXPECT_EQ(std::string(tandem_last_error()),
            std::string("tandem_context_create: emulated GPU (host memory, reference kernels) cannot run this model: ") +
                kWhy);
  // An empty text refuses too.
  ModelPtr e = load_stories(emulated(3, 0, ""));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(make_context(e.get(), 64, TANDEM_KV_F16, &ctx), TANDEM_ERR_UNSUPPORTED);
}

TEST_F(ApiGpu, ExplicitLayersOverTheBudgetAreRefusedWithTheSizes) {
  ModelPtr m = load_stories(emulated(5, MiB(64)));
  ASSERT_NE(m, nullptr);
  ContextPtr ctx;
  EXPECT_EQ(make_context(m.get(), 0, TANDEM_KV_F16, &ctx), TANDEM_ERR_OUT_OF_MEMORY);
  const std::string e = tandem_last_error();
  for (const char* needle : {"tandem_context_create: the GPU memory plan does not fit", "64.00 MiB", "67108864 bytes",
                             "cuBLAS workspace 32.00 MiB", "KV cache", "0 layers fit"})
    EXPECT_TRUE(has(e, needle)) << needle << " missing in: " << e;
  // The same count in a budget that holds it.
  ModelPtr ok = load_stories(emulated(2, MiB(99)));
  ASSERT_NE(ok, nullptr);
  ASSERT_EQ(make_context(ok.get(), 0, TANDEM_KV_F16, &ctx), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), 2);
  EXPECT_EQ(tandem_context_gpu_bytes(ctx.get()), 103506688u);
}

TEST_F(ApiGpu, ZeroLayersLooksForNoGpu) {
  tandem_model_params p = emulated(0);
  ModelPtr m = load_stories(p);
  ASSERT_NE(m, nullptr);
  ContextPtr ctx;
  ASSERT_EQ(make_context(m.get(), 64, TANDEM_KV_F16, &ctx), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_gpu_layers(ctx.get()), 0);
  EXPECT_EQ(tandem_context_gpu_output(ctx.get()), 0);
  EXPECT_STREQ(tandem_context_gpu_name(ctx.get()), "");
  EXPECT_STREQ(tandem_context_gpu_fallback_reason(ctx.get()), "");
}

}  // namespace
}  // namespace tandem_api_test
