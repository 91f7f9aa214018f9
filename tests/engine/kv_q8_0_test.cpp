// A model runs with a q8_0 KV cache (--kv-type q8_0) and its logits stay close to those
// of an f32 KV cache: tiny-llama-spm512-f16 (2 layers, 4 heads, 2 KV heads, head dim 64:
// two Q8_0 blocks per row) over a 96-token prefill and 24 single-token decode steps (the
// decode path with context splits on a multi-thread arena).
//
// Tolerance. Q8_0 stores each K/V value with an error of at most half a step, 1/254 of
// its 32-value block's largest magnitude (plus the f16 rounding of the scale): an rms
// error of about amax / (254 * sqrt(3)), ~0.2% of the block maximum. f16 rounds each
// value to 11 significant bits, an rms error some 16-20 times smaller for values of
// this spread. Both errors pass through attention, two layers and the output head
// linearly (they are tiny), so q8_0's logit error should be about 16-20x f16's, and
// that is what this model shows (printed: logit std 1.60; rms |Δ| 0.030 for q8_0, 0.0019
// for f16, ratio 16; max |Δ| 0.20). The bounds, each 2-2.5x above the measured value:
//   rms |Δlogit| <= kRmsTol * std(logits)   (0.05; measured 0.019)
//   max |Δlogit| <= kMaxTol * std(logits)   (0.25; measured 0.123)
//   rms(q8_0) <= kVsF16 * rms(f16)          (40; measured 16, expected 16-20)
// A real bug (a wrong scale or block offset, a dropped token, a wrong KV head) moves
// logits by a good part of their spread: hundreds of times f16's error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/runtime.h"
#include "test_data.h"

namespace tandem {
namespace {

constexpr double kRmsTol = 0.05;
constexpr double kMaxTol = 0.25;
constexpr double kVsF16 = 40;

struct Diff {
  double rms = 0, max = 0, ref_std = 0;
};

// Logits of every prompt token and of each following single-token step, one
// [n_vocab] row per token, with the KV cache of `type`.
std::vector<std::vector<float>> run_model(const std::string& path, DType type,
                                          const std::vector<int32_t>& prompt,
                                          const std::vector<int32_t>& steps) {
  ContextConfig cc;
  cc.n_ctx = 256;
  cc.n_threads = 4;  // one decode token over 2 KV heads: context splits (attention_splits)
  cc.kv_type = type;
  auto rt = open_runtime(path, cc);
  EXPECT_TRUE(rt) << dtype_name(type) << ": " << (rt ? "" : rt.error().message());
  if (!rt) return {};
  const auto n_vocab = static_cast<size_t>(rt->model->config().n_vocab);
  EXPECT_EQ(rt->context->kv().config().type, type);
  std::vector<std::vector<float>> out;
  auto logits = rt->context->decode(prompt, /*all_logits=*/true);
  EXPECT_TRUE(logits) << logits.error().message();
  if (!logits) return {};
  for (size_t t = 0; t < prompt.size(); ++t)
    out.emplace_back(logits->begin() + static_cast<std::ptrdiff_t>(t * n_vocab),
                     logits->begin() + static_cast<std::ptrdiff_t>((t + 1) * n_vocab));
  for (int32_t tok : steps) {
    auto l = rt->context->decode(std::span<const int32_t>(&tok, 1), false);
    EXPECT_TRUE(l) << l.error().message();
    if (!l) return {};
    out.emplace_back(l->begin(), l->end());
  }
  return out;
}

Diff diff(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& ref) {
  Diff d;
  double sum2 = 0, ref_sum = 0, ref_sum2 = 0;
  size_t n = 0;
  for (size_t t = 0; t < ref.size(); ++t) {
    for (size_t i = 0; i < ref[t].size(); ++i) {
      const double e = static_cast<double>(got[t][i]) - ref[t][i];
      sum2 += e * e;
      d.max = std::max(d.max, std::isnan(e) ? INFINITY : std::fabs(e));
      ref_sum += ref[t][i];
      ref_sum2 += static_cast<double>(ref[t][i]) * ref[t][i];
      ++n;
    }
  }
  d.rms = std::sqrt(sum2 / static_cast<double>(n));
  const double mean = ref_sum / static_cast<double>(n);
  d.ref_std = std::sqrt(ref_sum2 / static_cast<double>(n) - mean * mean);
  return d;
}

TEST(KvQ8_0Model, LogitsCloseToF32Kv) {
  const std::string path = testing::test_data_path("models/synthetic/tiny-llama-spm512-f16.gguf");
  TANDEM_REQUIRE_DATA(path);
  std::vector<int32_t> prompt, steps;  // token ids of the 512-token vocab, no special ones
  prompt.push_back(1);                 // BOS
  for (int32_t i = 1; i < 96; ++i) prompt.push_back(3 + (i * 197 + 11) % 509);
  for (int32_t i = 0; i < 24; ++i) steps.push_back(3 + (i * 331 + 7) % 509);

  const auto f32 = run_model(path, DType::kF32, prompt, steps);
  const auto q8 = run_model(path, DType::kQ8_0, prompt, steps);
  const auto f16 = run_model(path, DType::kF16, prompt, steps);
  ASSERT_EQ(f32.size(), prompt.size() + steps.size());
  ASSERT_EQ(q8.size(), f32.size());
  ASSERT_EQ(f16.size(), f32.size());
  const Diff dq = diff(q8, f32), dh = diff(f16, f32);
  std::printf("[kv q8_0] logit std %.4g; q8_0 vs f32 KV: rms %.4g max %.4g; f16 vs f32 KV: rms %.4g max %.4g\n",
              dq.ref_std, dq.rms, dq.max, dh.rms, dh.max);
  ASSERT_GT(dq.ref_std, 0);
  EXPECT_LE(dq.rms, kRmsTol * dq.ref_std);
  EXPECT_LE(dq.max, kMaxTol * dq.ref_std);
  ASSERT_GT(dh.rms, 0);
  EXPECT_LE(dq.rms, kVsF16 * dh.rms);
  EXPECT_GT(dq.max, 0);  // the q8_0 cache really quantized (identical logits would mean f32 was used)
}

}  // namespace
}  // namespace tandem
