// C API: contexts, tandem_eval (logits against the golden file) and the sampler handle.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

class ApiContext : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_STORIES();
    model_ = load_stories();
    ASSERT_NE(model_, nullptr);
  }

  tandem_status create(const tandem_context_params& p) {
    tandem_context* c = nullptr;
    const tandem_status s = tandem_context_create(model_.get(), &p, &c);
    if (s != TANDEM_OK) {
      EXPECT_EQ(c, nullptr);
    }
    tandem_context_free(c);
    return s;
  }

  ModelPtr model_;
};

int32_t argmax(const float* row, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;
  return best;
}

TEST_F(ApiContext, DefaultsAndSizes) {
  const tandem_context_params d = tandem_context_default_params();
  EXPECT_EQ(d.n_ctx, 0);
  EXPECT_EQ(d.n_threads, 0);
  EXPECT_GT(d.n_batch, 0);
  EXPECT_EQ(d.kv_type, TANDEM_KV_F16);
  tandem_context* c = nullptr;
  ASSERT_EQ(tandem_context_create(model_.get(), nullptr, &c), TANDEM_OK) << tandem_last_error();
  ContextPtr ctx(c);
  const int32_t n_train = tandem_model_n_ctx_train(model_.get());
  EXPECT_EQ(tandem_context_n_ctx(ctx.get()), n_train < 4096 ? n_train : 4096);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 0);
  EXPECT_EQ(tandem_context_n_ctx(nullptr), -1);
  EXPECT_EQ(tandem_context_n_past(nullptr), -1);
  tandem_context_free(nullptr);  // does nothing
}

TEST_F(ApiContext, BadParams) {
  tandem_context_params p = tandem_context_default_params();
  p.n_ctx = -1;
  EXPECT_EQ(create(p), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("n_ctx is -1"), std::string::npos) << tandem_last_error();
  p = tandem_context_default_params();
  p.n_batch = 0;
  EXPECT_EQ(create(p), TANDEM_ERR_INVALID_ARGUMENT);
  p = tandem_context_default_params();
  p.n_threads = -3;
  EXPECT_EQ(create(p), TANDEM_ERR_INVALID_ARGUMENT);
  p = tandem_context_default_params();
  const int not_a_kv_type = 42;  // as a C caller may store it
  std::memcpy(&p.kv_type, &not_a_kv_type, sizeof not_a_kv_type);
  EXPECT_EQ(create(p), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("kv_type 42"), std::string::npos) << tandem_last_error();
  p.kv_type = TANDEM_KV_Q8_0;  // stories260K's head_dim is 8, not a multiple of 32
  EXPECT_EQ(create(p), TANDEM_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(tandem_last_error()).find("head_dim 8"), std::string::npos) << tandem_last_error();
  p.kv_type = TANDEM_KV_BF16;
  EXPECT_EQ(create(p), TANDEM_OK) << tandem_last_error();

  tandem_context* c = nullptr;
  EXPECT_EQ(tandem_context_create(nullptr, nullptr, &c), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_context_create(model_.get(), nullptr, nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_context_reset(nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_context_truncate(nullptr, 0), TANDEM_ERR_INVALID_ARGUMENT);
}

TEST_F(ApiContext, EvalAllLogitsMatchesGoldenTop1) {
  ContextPtr ctx = golden_context(model_.get());
  ASSERT_NE(ctx, nullptr);
  const float* logits = nullptr;
  ASSERT_EQ(tandem_eval(ctx.get(), kPromptTokens.data(), kPromptTokens.size(), 1, &logits), TANDEM_OK)
      << tandem_last_error();
  ASSERT_NE(logits, nullptr);
  const int32_t n_vocab = tandem_model_n_vocab(model_.get());
  for (size_t i = 0; i < kPromptTop1.size(); ++i) {
    const float* row = logits + i * static_cast<size_t>(n_vocab);  // [n_tokens, n_vocab]
    EXPECT_EQ(argmax(row, n_vocab), kPromptTop1[i].first) << "position " << i;
    EXPECT_NEAR(row[kPromptTop1[i].first], kPromptTop1[i].second, kF32LogitTol) << "position " << i;
  }
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 5);
}

TEST_F(ApiContext, EvalAndSamplerReproduceGreedyGolden) {
  ContextPtr ctx = golden_context(model_.get());
  ASSERT_NE(ctx, nullptr);
  const tandem_sampler_params sp = greedy_params();
  tandem_sampler* raw = nullptr;
  ASSERT_EQ(tandem_sampler_create(model_.get(), &sp, &raw), TANDEM_OK) << tandem_last_error();
  SamplerPtr sampler(raw);
  const float* logits = nullptr;
  ASSERT_EQ(tandem_eval(ctx.get(), kPromptTokens.data(), kPromptTokens.size(), 0, &logits), TANDEM_OK);
  std::vector<int32_t> out;
  for (int step = 0; step < 32; ++step) {
    tandem_token t = -1;
    ASSERT_EQ(tandem_sampler_sample(sampler.get(), logits, &t), TANDEM_OK) << tandem_last_error();
    ASSERT_EQ(tandem_sampler_accept(sampler.get(), t), TANDEM_OK);
    out.push_back(t);
    ASSERT_EQ(tandem_eval(ctx.get(), &t, 1, 0, &logits), TANDEM_OK) << tandem_last_error();
  }
  EXPECT_EQ(out, kGreedyTokens);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 5 + 32);
}

TEST_F(ApiContext, TruncateKeepsAPrefix) {
  ContextPtr ctx = golden_context(model_.get());
  ASSERT_NE(ctx, nullptr);
  const float* logits = nullptr;
  ASSERT_EQ(tandem_eval(ctx.get(), kPromptTokens.data(), kPromptTokens.size(), 0, &logits), TANDEM_OK);
  ASSERT_EQ(tandem_context_truncate(ctx.get(), 4), TANDEM_OK);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 4);
  // Re-running the last prompt token from the kept prefix gives the golden last logits.
  ASSERT_EQ(tandem_eval(ctx.get(), &kPromptTokens[4], 1, 0, &logits), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(argmax(logits, tandem_model_n_vocab(model_.get())), 432);
  EXPECT_NEAR(logits[432], kPromptTop1[4].second, kF32LogitTol);

  EXPECT_EQ(tandem_context_truncate(ctx.get(), 6), TANDEM_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(tandem_last_error()).find("n_past = 5"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_context_truncate(ctx.get(), -1), TANDEM_ERR_OUT_OF_RANGE);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 5);
}

TEST_F(ApiContext, EvalErrorsLeaveTheContextUnchanged) {
  ContextPtr ctx = golden_context(model_.get(), /*n_ctx=*/8);
  ASSERT_NE(ctx, nullptr);
  const float* logits = reinterpret_cast<const float*>(0x1);
  const std::vector<int32_t> nine(9, 403);
  EXPECT_EQ(tandem_eval(ctx.get(), nine.data(), nine.size(), 0, &logits), TANDEM_ERR_OUT_OF_RANGE);
  EXPECT_EQ(logits, nullptr);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 0);
  const std::vector<int32_t> bad = {1, -5};
  EXPECT_EQ(tandem_eval(ctx.get(), bad.data(), bad.size(), 0, &logits), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("-5"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_eval(ctx.get(), nullptr, 0, 0, &logits), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_eval(ctx.get(), kPromptTokens.data(), 5, 0, nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_eval(nullptr, kPromptTokens.data(), 5, 0, &logits), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_context_n_past(ctx.get()), 0);
}

TEST_F(ApiContext, SamplerErrors) {
  const tandem_sampler_params d = tandem_sampler_default_params();
  EXPECT_FLOAT_EQ(d.temperature, 0.8f);
  EXPECT_EQ(d.top_k, 40);
  EXPECT_FLOAT_EQ(d.repeat_penalty, 1.0f);
  tandem_sampler* s = nullptr;
  EXPECT_EQ(tandem_sampler_create(nullptr, &d, &s), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  tandem_sampler_params bad = d;
  bad.top_p = 0.f;
  EXPECT_EQ(tandem_sampler_create(model_.get(), &bad, &s), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("top_p"), std::string::npos) << tandem_last_error();
  ASSERT_EQ(tandem_sampler_create(model_.get(), nullptr, &s), TANDEM_OK) << tandem_last_error();
  SamplerPtr sampler(s);
  tandem_token t = 0;
  EXPECT_EQ(tandem_sampler_sample(sampler.get(), nullptr, &t), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_sampler_accept(sampler.get(), 512), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_sampler_accept(nullptr, 5), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_sampler_reset(sampler.get()), TANDEM_OK);
  EXPECT_EQ(tandem_sampler_reset(nullptr), TANDEM_ERR_INVALID_ARGUMENT);
}

TEST_F(ApiContext, SamplerResetReplaysTheSameDraws) {
  tandem_sampler_params p = tandem_sampler_default_params();
  p.seed = 1234;
  p.top_k = 0;
  p.top_p = 1.f;
  p.min_p = 0.f;
  p.temperature = 1.f;
  tandem_sampler* s = nullptr;
  ASSERT_EQ(tandem_sampler_create(model_.get(), &p, &s), TANDEM_OK) << tandem_last_error();
  SamplerPtr sampler(s);
  const std::vector<float> flat(512, 0.f);  // uniform: draws spread over the vocabulary
  std::vector<int32_t> runs[2];
  for (auto& run : runs) {
    for (int i = 0; i < 16; ++i) {
      tandem_token t = -1;
      ASSERT_EQ(tandem_sampler_sample(sampler.get(), flat.data(), &t), TANDEM_OK);
      ASSERT_GE(t, 0);
      ASSERT_LT(t, 512);
      run.push_back(t);
    }
    ASSERT_EQ(tandem_sampler_reset(sampler.get()), TANDEM_OK);
  }
  EXPECT_EQ(runs[0], runs[1]);
  // 16 uniform draws from 512 ids are not all the same id.
  EXPECT_NE(std::count(runs[0].begin(), runs[0].end(), runs[0][0]), 16);
}

}  // namespace
}  // namespace tandem_api_test
