// The attention scratch of the CUDA executor: the split-K partial states of decode
// attention (attention_common.h: [n_tokens, n_heads, n_split, 2 + head_dim] f32), one
// plan item of its own (engine/memory_plan.h, "attention scratch"). Plain C++, so the
// planner sizes it with the very function the executor checks it with.
//
// The split plan (attn::plan_decode) depends on the GPU's SM count, which the planner
// does not know: the executor plans splits for min(its SMs, kAttnPlanMaxSms) and the
// planner sizes the scratch for kAttnPlanMaxSms. n_split never exceeds
//   want = min(ceil(4 * n_sm / n_ctas), max_ctx / kDecodeMinChunk, kDecodeMaxSplits)
// (the chunk is rounded up, which only lowers n_split), and want grows with n_sm and
// max_ctx, so taking want at the context limit for each launch size n_tokens in
// [1, max_batch] bounds every plan of every decode launch the executor makes: those
// planned for a step's own longest context and those planned for the context limit
// (decode chunks of up to kGemvMaxBatch tokens, the shapes CUDA graphs replay).
// For Llama-3.1-8B (32 heads, 8 KV heads, head_dim 128, batches of 512) that is
// 3144960 bytes (3.0 MiB) at any context limit of 1024 or more.
#pragma once

#include <cstdint>

#include "gpu/cuda/attention_common.h"  // plain C++: the split plan's constants

namespace tandem::gpu {

// The SM count split plans assume at most (H100 and H200: 132, RTX 4090: 128, T4: 40).
inline constexpr int32_t kAttnPlanMaxSms = 256;

struct AttnScratchShape {
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t max_batch = 0;  // most tokens in one decode launch
  int32_t max_ctx = 0;    // the context limit: blocks per sequence x block tokens
};

// The most split-K workspace any decode launch of shape `s` needs on a GPU of n_sm
// SMs (n_sm <= kAttnPlanMaxSms), 16-byte aligned sizes; 0 when no launch splits.
inline uint64_t attention_scratch_bytes(const AttnScratchShape& s, int32_t n_sm = kAttnPlanMaxSms) {
  if (s.n_heads <= 0 || s.n_kv_heads <= 0 || s.head_dim <= 0 || s.max_batch <= 0) return 0;
  const int64_t target = int64_t{attn::kDecodeCtasPerSm} * (n_sm > 0 ? n_sm : 1);
  const int64_t by_ctx = s.max_ctx / attn::kDecodeMinChunk;  // 0 or 1 below 2 chunks: no split
  const int64_t slices = attn::decode_head_slices(s.n_heads / s.n_kv_heads);
  uint64_t most = 0;
  for (int64_t t = 1; t <= s.max_batch; ++t) {
    const int64_t ctas = t * s.n_kv_heads * slices;
    if (ctas * 2 > target) break;  // this many CTAs never split, nor do more
    int64_t want = (target + ctas - 1) / ctas;
    if (want > by_ctx) want = by_ctx;
    if (want > attn::kDecodeMaxSplits) want = attn::kDecodeMaxSplits;
    if (want < 2) continue;
    const auto bytes = static_cast<uint64_t>(t * s.n_heads * want * (2 + int64_t{s.head_dim})) * 4;
    if (bytes > most) most = bytes;
  }
  return most;
}

}  // namespace tandem::gpu
