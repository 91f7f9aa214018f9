// The attention scratch's size (gpu/attention_scratch.h), with no GPU: it bounds the
// split-K workspace of every decode launch the CUDA executor can make (any token count
// up to max_batch, any longest context up to the limit, plans for the context limit
// included, any SM count up to the one it was sized for), one of them needs all of it
// (no slack), it matches hand arithmetic for Llama-3.1-8B, and it is 0 where no launch
// splits (contexts under two chunks of keys).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "gpu/attention_scratch.h"

namespace tandem::gpu {
namespace {

// decode_workspace_floats of the plan the executor makes (attention.cuh's
// plan_decode_for): CTAs = tokens x KV heads x head slices.
uint64_t launch_bytes(const AttnScratchShape& s, int32_t tokens, int32_t plan_ctx, int32_t n_sm) {
  const int64_t ctas = int64_t{tokens} * s.n_kv_heads * attn::decode_head_slices(s.n_heads / s.n_kv_heads);
  const attn::DecodePlan p = attn::plan_decode(ctas, plan_ctx, n_sm);
  return static_cast<uint64_t>(attn::decode_workspace_floats(p, tokens, s.n_heads, s.head_dim)) * 4;
}

TEST(AttentionScratch, BoundsEveryDecodeLaunchAndIsReached) {
  const AttnScratchShape shapes[] = {
      {32, 8, 128, 512, 4096},  // Llama-3.1-8B, the default plan
      {32, 32, 128, 64, 2048},  // Llama-2-7B (no GQA)
      {14, 2, 64, 16, 32768},   // Qwen2.5-0.5B, long context
      {8, 4, 8, 4, 64},         // stories260K-like: never splits
      {64, 8, 128, 9, 8192},    // group of 8: one head slice per KV head
      {96, 8, 128, 33, 1000},   // group of 12: two head slices
  };
  for (const AttnScratchShape& s : shapes) {
    for (const int32_t n_sm : {1, 40, 132, kAttnPlanMaxSms}) {
      const std::string what = std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + " heads of " +
                               std::to_string(s.head_dim) + ", batch " + std::to_string(s.max_batch) + ", context " +
                               std::to_string(s.max_ctx) + ", " + std::to_string(n_sm) + " SMs";
      const uint64_t bound = attention_scratch_bytes(s, n_sm);
      EXPECT_LE(bound, attention_scratch_bytes(s)) << what << ": the plan's size (for kAttnPlanMaxSms) covers it";
      uint64_t most = 0;
      for (int32_t t = 1; t <= s.max_batch; ++t) {
        // Longest contexts from 1 to the limit (every one near the chunk boundaries), and
        // the limit itself, as the plans of graph-shaped chunks use.
        for (int32_t ctx = 1; ctx <= s.max_ctx; ctx += (ctx < 1100 ? 1 : 97)) {
          const uint64_t b = launch_bytes(s, t, ctx, n_sm);
          most = std::max(most, b);
          ASSERT_LE(b, bound) << what << ": " << t << " tokens, context " << ctx;
        }
        most = std::max(most, launch_bytes(s, t, s.max_ctx, n_sm));
        ASSERT_LE(launch_bytes(s, t, s.max_ctx, n_sm), bound) << what << ": " << t << " tokens at the limit";
      }
      // No slack: some launch needs all of it.
      EXPECT_EQ(most, bound) << what;
      if (s.max_ctx < 2 * attn::kDecodeMinChunk) {
        EXPECT_EQ(bound, 0u) << what;
      }
    }
  }
}

TEST(AttentionScratch, Llama8bByHand) {
  // 256 SMs: 1024 CTAs wanted. 63 tokens x 8 KV heads = 504 CTAs get ceil(1024 / 504)
  // = 3 splits, the largest tokens x splits product among launches that split at all
  // (at most 512 CTAs, i.e. 64 tokens, which get 2): 63 x 32 heads x 3 x (2 + 128) floats.
  const AttnScratchShape s{32, 8, 128, 512, 4096};
  EXPECT_EQ(attention_scratch_bytes(s), 63ull * 32 * 3 * 130 * 4);
  EXPECT_EQ(attention_scratch_bytes(s), 3144960u);
  // On an H100 (132 SMs: 528 CTAs wanted), launches of up to 33 tokens split; 32 tokens
  // (256 CTAs) get ceil(528 / 256) = 3 splits, the largest product.
  EXPECT_EQ(attention_scratch_bytes(s, 132), 32ull * 32 * 3 * 130 * 4);
  // A context of 512 keys allows 2 splits at most: launches of up to 64 tokens.
  EXPECT_EQ(attention_scratch_bytes({32, 8, 128, 512, 512}), 64ull * 32 * 2 * 130 * 4);
  // Under two chunks of keys nothing splits.
  EXPECT_EQ(attention_scratch_bytes({32, 8, 128, 512, 511}), 0u);
  EXPECT_EQ(attention_scratch_bytes({32, 8, 128, 0, 4096}), 0u);
}

}  // namespace
}  // namespace tandem::gpu
