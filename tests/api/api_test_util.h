// Shared by the C API tests: stories260K, its golden values (from
// shared/golden/stories260K.json, computed by llama.cpp with an f32 KV cache), and RAII
// holders for the C handles. Uses only the public header and the test-data helpers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/tandem.h"
#include "test_data.h"

namespace tandem_api_test {

struct ModelDeleter {
  void operator()(tandem_model* m) const { tandem_model_free(m); }
};
struct ContextDeleter {
  void operator()(tandem_context* c) const { tandem_context_free(c); }
};
struct SamplerDeleter {
  void operator()(tandem_sampler* s) const { tandem_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<tandem_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<tandem_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<tandem_sampler, SamplerDeleter>;

inline std::string stories_path() { return tandem::testing::test_data_path("models/stories260K.gguf"); }

// golden "prompts"[0]: "Once upon a time".
inline const char kPrompt[] = "Once upon a time";
inline const std::vector<int32_t> kPromptTokens = {1, 403, 407, 261, 378};
// Its "greedy"."tokens" (32 steps) and "greedy"."text".
inline const std::vector<int32_t> kGreedyTokens = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                                   338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322,
                                                   265, 282, 295, 433, 426, 385, 328, 432, 358, 394};
inline const char kGreedyText[] =
    ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";
// The argmax and its logit at each prompt position ("top10"[i][0]).
inline const std::vector<std::pair<int32_t, float>> kPromptTop1 = {
    {403, 17.0235157f}, {407, 18.4599857f}, {261, 17.1369629f}, {378, 18.8743896f}, {432, 17.7993965f}};
// F32 weights and f32 KV: both engines compute in f32 (tests/engine/golden_test.cpp's kF32Tol).
inline constexpr float kF32LogitTol = 1e-4f;

// Model params for the CPU alone: the tests that compare with golden values run on the
// CPU on every machine (tests/api/gpu_test.cpp tests placement).
inline tandem_model_params cpu_params() {
  tandem_model_params p = tandem_model_default_params();
  p.n_gpu_layers = 0;
  return p;
}

inline ModelPtr load_stories(const tandem_model_params& params = cpu_params()) {
  tandem_model* m = nullptr;
  const tandem_status s = tandem_model_load(stories_path().c_str(), &params, &m);
  EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
  return ModelPtr(m);
}

// A context as the golden run had it: f32 KV cache, 512 tokens.
inline ContextPtr golden_context(tandem_model* m, int32_t n_ctx = 512) {
  tandem_context_params p = tandem_context_default_params();
  p.n_ctx = n_ctx;
  p.kv_type = TANDEM_KV_F32;
  tandem_context* c = nullptr;
  const tandem_status s = tandem_context_create(m, &p, &c);
  EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
  return ContextPtr(c);
}

inline tandem_sampler_params greedy_params() {
  tandem_sampler_params p = tandem_sampler_default_params();
  p.temperature = 0.f;
  return p;
}

}  // namespace tandem_api_test

// Skips a test when stories260K is not there (shared data is optional).
#define REQUIRE_STORIES() TANDEM_REQUIRE_DATA(::tandem_api_test::stories_path())
