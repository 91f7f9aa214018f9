// The Q4_1, Q5_0, Q5_1 and BF16 models have no full golden files; shared/golden/
// known-answers.json holds llama.cpp's perplexity (ctx 128) and 32-token greedy
// continuations (as bytes) for them. See shared/golden/README.md.
//
// Tolerances: perplexity within kPplRelTol (activation rounding moves single logits
// by ~0.1, the mean log-likelihood by far less: measured |Δppl|/ppl <= 6e-4);
// greedy bytes identical up to the first token where Tandem's own top-2 margin is
// below kMarginTol (a near-tie the two engines may break differently).
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/perplexity.h"
#include "engine/runtime.h"
#include "test_data.h"

namespace tandem {
namespace {

constexpr double kPplRelTol = 3e-3;
constexpr float kMarginTol = 0.1f;

std::string hex_of(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

class KnownAnswers : public ::testing::TestWithParam<std::string> {};

TEST_P(KnownAnswers, PerplexityAndGreedy) {
  const std::string ka_path = testing::test_data_path("golden/known-answers.json");
  TANDEM_REQUIRE_DATA(ka_path);
  const nlohmann::json ka = nlohmann::json::parse(testing::read_file(ka_path));
  const std::string rel = "models/synthetic/tiny-llama-spm512-" + GetParam() + ".gguf";
  const std::string model_path = testing::test_data_path(rel);
  TANDEM_REQUIRE_DATA(model_path);
  const nlohmann::json& m = ka["models"][rel];
  ASSERT_FALSE(m.is_null()) << rel << " missing from known-answers.json";

  ContextConfig cc;
  cc.n_ctx = 512;  // perplexity uses chunks of 128; the greedy prompts are longer
  cc.kv_type = DType::kF32;
  auto rt = open_runtime(model_path, cc);
  ASSERT_TRUE(rt) << rt.error().message();
  const Tokenizer& tok = *rt->tokenizer;
  Context& ctx = *rt->context;
  const int32_t n_vocab = rt->model->config().n_vocab;

  std::string text = testing::read_file(testing::test_data_path("golden/ppl-public.txt"));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  auto ids = tok.encode(text, tok.add_bos_default(), false);
  ASSERT_TRUE(ids);
  auto ppl = perplexity(ctx, *ids, 128, tok.bos(), nullptr);
  ASSERT_TRUE(ppl) << ppl.error().message();
  const double want_ppl = m["ppl_ctx128"].get<double>();
  EXPECT_NEAR(ppl->ppl, want_ppl, kPplRelTol * want_ppl);

  int identical = 0;
  for (const auto& g : m["greedy32"]) {
    const std::string prompt = g["prompt"];
    SCOPED_TRACE(prompt);
    const std::string want_hex = g["continuation_hex"];
    auto p = tok.encode(prompt, tok.add_bos_default(), false);
    ASSERT_TRUE(p);
    ctx.truncate(0, 0);
    auto logits = ctx.decode(*p, false);
    ASSERT_TRUE(logits);
    std::string got;
    for (int step = 0; step < 32; ++step) {
      const float* row = logits->data();
      int32_t a = 0, b = -1;
      for (int32_t v = 1; v < n_vocab; ++v) {
        if (row[v] > row[a]) b = a, a = v;
        else if (b < 0 || row[v] > row[b]) b = v;
      }
      got += tok.token_to_piece(a, false);
      const std::string got_hex = hex_of(got);
      const size_t n = std::min(got_hex.size(), want_hex.size());
      if (got_hex.compare(0, n, want_hex, 0, n) != 0) {
        EXPECT_LT(row[a] - row[b], kMarginTol)
            << "greedy bytes differ at step " << step << " where the top-2 margin is clear: got "
            << got_hex << ", want " << want_hex;
        break;  // after a near-tie, the continuations may differ
      }
      const int32_t one[1] = {a};
      logits = ctx.decode(one, false);
      ASSERT_TRUE(logits);
    }
    // llama-cli ends its output with "\n\n" after the 32 tokens (every entry has it).
    if (hex_of(got) == want_hex || hex_of(got) + "0a0a" == want_hex) ++identical;
  }
  std::printf("[ known ] %s: ppl %.4f (llama.cpp %.4f), greedy identical %d/3\n", GetParam().c_str(), ppl->ppl,
              want_ppl, identical);
}

INSTANTIATE_TEST_SUITE_P(Models, KnownAnswers, ::testing::Values("q4_1", "q5_0", "q5_1", "bf16"));

}  // namespace
}  // namespace tandem
