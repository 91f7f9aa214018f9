// C API: tandem_generate on stories260K against llama.cpp's greedy continuation, and how
// generation stops (n_predict, callback, stop flag, full context) or refuses to start.
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

// What the callback saw; stop_at: return nonzero at that many tokens (0: never);
// flag_at: set *flag at that many tokens.
struct Collector {
  std::vector<int32_t> tokens;
  std::string text;
  size_t stop_at = 0;
  size_t flag_at = 0;
  int* flag = nullptr;
};

int collect(tandem_token token, const char* piece, size_t len, void* user_data) {
  auto* c = static_cast<Collector*>(user_data);
  c->tokens.push_back(token);
  c->text.append(piece, len);
  if (c->flag_at != 0 && c->tokens.size() == c->flag_at) __atomic_store_n(c->flag, 1, __ATOMIC_RELEASE);
  return c->stop_at != 0 && c->tokens.size() == c->stop_at ? 1 : 0;
}

std::vector<int32_t> golden_prefix(size_t n) {
  return std::vector<int32_t>(kGreedyTokens.begin(), kGreedyTokens.begin() + static_cast<long>(n));
}

class ApiGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_STORIES();
    model_ = load_stories();
    ASSERT_NE(model_, nullptr);
    ctx_ = golden_context(model_.get());
    ASSERT_NE(ctx_, nullptr);
  }

  tandem_status generate(const std::vector<int32_t>& prompt, int32_t n_predict, Collector* c,
                         const int* flag = nullptr, tandem_context* ctx = nullptr) {
    const tandem_sampler_params sp = greedy_params();
    return tandem_generate(ctx != nullptr ? ctx : ctx_.get(), prompt.data(), prompt.size(), n_predict, &sp,
                           collect, c, flag, &stats_);
  }

  ModelPtr model_;
  ContextPtr ctx_;
  tandem_generate_stats stats_{};
};

TEST_F(ApiGenerate, GreedyMatchesGolden) {
  Collector c;
  ASSERT_EQ(generate(kPromptTokens, 32, &c), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(c.tokens, kGreedyTokens);
  EXPECT_EQ(c.text, kGreedyText);
  EXPECT_EQ(stats_.n_prompt, 5);
  EXPECT_EQ(stats_.n_generated, 32);
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_N_PREDICT);
  EXPECT_GE(stats_.prefill_seconds, 0.0);
  EXPECT_GT(stats_.decode_seconds, 0.0);
  // The prompt and every generated token but the last are in the cache.
  EXPECT_EQ(tandem_context_n_past(ctx_.get()), 5 + 31);
}

TEST_F(ApiGenerate, SmallBatchesAndResetGiveTheSameTokens) {
  tandem_context_params p = tandem_context_default_params();
  p.n_ctx = 64;
  p.n_batch = 2;  // the prompt in three forward passes
  p.kv_type = TANDEM_KV_F32;
  tandem_context* raw = nullptr;
  ASSERT_EQ(tandem_context_create(model_.get(), &p, &raw), TANDEM_OK) << tandem_last_error();
  ContextPtr ctx(raw);
  for (int round = 0; round < 2; ++round) {
    Collector c;
    ASSERT_EQ(generate(kPromptTokens, 32, &c, nullptr, ctx.get()), TANDEM_OK) << tandem_last_error();
    EXPECT_EQ(c.tokens, kGreedyTokens) << "round " << round;
    ASSERT_EQ(tandem_context_reset(ctx.get()), TANDEM_OK);
    EXPECT_EQ(tandem_context_n_past(ctx.get()), 0);
  }
}

TEST_F(ApiGenerate, ASecondCallContinuesTheSequence) {
  Collector first;
  ASSERT_EQ(generate(kPromptTokens, 16, &first), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(first.tokens, golden_prefix(16));
  // The 16th token was not fed back yet: it is the next call's prompt.
  Collector second;
  ASSERT_EQ(generate({first.tokens.back()}, 16, &second), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(second.tokens, std::vector<int32_t>(kGreedyTokens.begin() + 16, kGreedyTokens.end()));
  EXPECT_EQ(stats_.n_prompt, 1);
}

TEST_F(ApiGenerate, DefaultSamplingIsReproducible) {
  std::vector<int32_t> runs[2];
  for (auto& run : runs) {
    Collector c;
    ASSERT_EQ(tandem_context_reset(ctx_.get()), TANDEM_OK);
    ASSERT_EQ(tandem_generate(ctx_.get(), kPromptTokens.data(), kPromptTokens.size(), 24, nullptr, collect, &c,
                              nullptr, &stats_),
              TANDEM_OK)
        << tandem_last_error();
    run = c.tokens;
  }
  EXPECT_FALSE(runs[0].empty());
  EXPECT_EQ(runs[0], runs[1]);
}

TEST_F(ApiGenerate, CallbackStops) {
  Collector c;
  c.stop_at = 3;
  ASSERT_EQ(generate(kPromptTokens, 32, &c), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(c.tokens, golden_prefix(3));
  EXPECT_EQ(stats_.n_generated, 3);
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_CALLBACK);
  EXPECT_EQ(tandem_context_n_past(ctx_.get()), 5 + 2);
}

TEST_F(ApiGenerate, StopFlagStopsAfterTheCurrentToken) {
  int flag = 0;
  Collector c;
  c.flag_at = 4;
  c.flag = &flag;
  ASSERT_EQ(generate(kPromptTokens, 32, &c, &flag), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(c.tokens, golden_prefix(4));
  EXPECT_EQ(stats_.n_generated, 4);
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_FLAG);
}

TEST_F(ApiGenerate, StopFlagFromAnotherThread) {
  int flag = 0;
  std::promise<void> second_token, flag_set;
  std::thread stopper([&] {
    second_token.get_future().wait();
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    flag_set.set_value();
  });
  struct State {
    std::vector<int32_t> tokens;
    std::promise<void>* second_token;
    std::future<void> flag_set;
  } st{{}, &second_token, flag_set.get_future()};
  auto cb = [](tandem_token token, const char*, size_t, void* user) -> int {
    auto* s = static_cast<State*>(user);
    s->tokens.push_back(token);
    if (s->tokens.size() == 2) {
      s->second_token->set_value();
      s->flag_set.wait();  // the other thread has stored the flag
    }
    return 0;
  };
  const tandem_sampler_params sp = greedy_params();
  const tandem_status s = tandem_generate(ctx_.get(), kPromptTokens.data(), kPromptTokens.size(), 32, &sp, cb,
                                          &st, &flag, &stats_);
  stopper.join();
  ASSERT_EQ(s, TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(st.tokens, golden_prefix(2));
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_FLAG);
}

TEST_F(ApiGenerate, StopFlagSetBeforehandRunsNothing) {
  const int flag = 1;
  Collector c;
  ASSERT_EQ(generate(kPromptTokens, 32, &c, &flag), TANDEM_OK) << tandem_last_error();
  EXPECT_TRUE(c.tokens.empty());
  EXPECT_EQ(stats_.n_prompt, 0);
  EXPECT_EQ(stats_.n_generated, 0);
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_FLAG);
  EXPECT_EQ(tandem_context_n_past(ctx_.get()), 0);
}

TEST_F(ApiGenerate, StopsWhenTheContextIsFull) {
  ContextPtr small = golden_context(model_.get(), /*n_ctx=*/16);
  ASSERT_NE(small, nullptr);
  Collector c;
  ASSERT_EQ(generate(kPromptTokens, -1, &c, nullptr, small.get()), TANDEM_OK) << tandem_last_error();
  // 5 prompt tokens + 11 fed-back tokens fill 16; the 12th is sampled from the last logits.
  EXPECT_EQ(c.tokens, golden_prefix(12));
  EXPECT_EQ(stats_.stop_reason, TANDEM_STOP_CONTEXT_FULL);
  EXPECT_EQ(tandem_context_n_past(small.get()), 16);
}

TEST_F(ApiGenerate, PromptLongerThanTheContextIsOutOfRange) {
  ContextPtr small = golden_context(model_.get(), /*n_ctx=*/16);
  ASSERT_NE(small, nullptr);
  const std::vector<int32_t> long_prompt(17, 403);
  Collector c;
  EXPECT_EQ(generate(long_prompt, 4, &c, nullptr, small.get()), TANDEM_ERR_OUT_OF_RANGE);
  const std::string msg = tandem_last_error();
  EXPECT_NE(msg.find("17 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("16"), std::string::npos) << msg;
  EXPECT_TRUE(c.tokens.empty());
  EXPECT_EQ(tandem_context_n_past(small.get()), 0);

  // A prompt that fits alone but not after what is cached.
  ASSERT_EQ(generate(kPromptTokens, 8, &c, nullptr, small.get()), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_past(small.get()), 12);
  EXPECT_EQ(generate(kPromptTokens, 1, &c, nullptr, small.get()), TANDEM_ERR_OUT_OF_RANGE);
  EXPECT_NE(std::string(tandem_last_error()).find("12 already used"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_context_n_past(small.get()), 12);
}

TEST_F(ApiGenerate, BadArguments) {
  Collector c;
  const tandem_sampler_params sp = greedy_params();
  EXPECT_EQ(tandem_generate(nullptr, kPromptTokens.data(), 5, 4, &sp, collect, &c, nullptr, nullptr),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("ctx is NULL"), std::string::npos);
  EXPECT_EQ(tandem_generate(ctx_.get(), nullptr, 5, 4, &sp, collect, &c, nullptr, nullptr),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_generate(ctx_.get(), kPromptTokens.data(), 0, 4, &sp, collect, &c, nullptr, nullptr),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("empty prompt"), std::string::npos);
  const std::vector<int32_t> bad = {1, 403, 512};
  EXPECT_EQ(tandem_generate(ctx_.get(), bad.data(), bad.size(), 4, &sp, collect, &c, nullptr, nullptr),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("prompt[2] = 512"), std::string::npos) << tandem_last_error();
  tandem_sampler_params hot = greedy_params();
  hot.temperature = -1.f;
  EXPECT_EQ(tandem_generate(ctx_.get(), kPromptTokens.data(), 5, 4, &hot, collect, &c, nullptr, nullptr),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("temperature"), std::string::npos) << tandem_last_error();
  EXPECT_TRUE(c.tokens.empty());
  EXPECT_EQ(tandem_context_n_past(ctx_.get()), 0);
}

TEST_F(ApiGenerate, NoCallbackAndNoStatsAreFine) {
  const tandem_sampler_params sp = greedy_params();
  ASSERT_EQ(tandem_generate(ctx_.get(), kPromptTokens.data(), kPromptTokens.size(), 8, &sp, nullptr, nullptr,
                            nullptr, nullptr),
            TANDEM_OK)
      << tandem_last_error();
  EXPECT_EQ(tandem_context_n_past(ctx_.get()), 5 + 7);
}

TEST_F(ApiGenerate, ContextOutlivesItsModelHandle) {
  ContextPtr ctx = golden_context(model_.get());
  ASSERT_NE(ctx, nullptr);
  model_.reset();  // tandem_model_free while the context lives
  Collector c;
  ASSERT_EQ(generate(kPromptTokens, 32, &c, nullptr, ctx.get()), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(c.tokens, kGreedyTokens);
}

}  // namespace
}  // namespace tandem_api_test
