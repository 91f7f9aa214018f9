// The arithmetic of the GPU attention kernels (attention.cuh) that needs no GPU, written
// once for two compilers (TANDEM_HD, see dequant_common.h): the online-softmax step, the
// merge of split-K partial states, the split plan and each split's key range, the thread
// layouts of the decode and prefill kernels, shared-memory sizes and the shape contract.
// The kernels call these very functions; tests/gpu_host checks them on the CPU.
//
// Softmax states. A query row that has seen keys with scores s_j keeps
//   m = max_j s_j,   l = sum_j exp(s_j - m),   acc[d] = sum_j exp(s_j - m) * v_j[d];
// its output is acc / l. A tile of keys with largest score m_tile folds in as
//   m' = max(m, m_tile), corr = exp(m - m'), l' = l * corr + sum_tile exp(s_j - m'),
//   acc' = acc * corr + sum_tile exp(s_j - m') * v_j,
// and S partial states (m_s, l_s, acc_s) of disjoint key ranges merge as
//   M = max_s m_s, w_s = exp(m_s - M) / sum_s l_s exp(m_s - M), out = sum_s w_s acc_s.
// An empty range is the state m = -inf, l = 0, acc = 0: it gets weight 0 (never NaN).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "gpu/cuda/dequant_common.h"  // TANDEM_HD

namespace tandem::gpu::attn {

inline constexpr int32_t kThreads = 128;          // threads of every attention CTA (4 warps)
inline constexpr int32_t kWarps = kThreads / 32;
inline constexpr int32_t kTileKeys = 32;          // keys per shared-memory tile: one per lane
inline constexpr int32_t kMaxHeadDim = 256;
inline constexpr int32_t kDecodeMaxHeads = 8;     // query heads per decode CTA (a group's slice)
inline constexpr int32_t kDecodeMinChunk = 256;   // fewest keys per split when splitting
inline constexpr int32_t kDecodeMaxSplits = 64;
inline constexpr int32_t kDecodeCtasPerSm = 4;    // the split plan's target occupancy

// ---- online softmax ----------------------------------------------------------------

// exp(s - m), and exactly 0 for a masked score (s = -inf), also when m = -inf.
TANDEM_HD float softmax_weight(float s, float m) { return s == -INFINITY ? 0.f : expf(s - m); }

struct Rescale {
  float m_new;  // the state's new max
  float corr;   // factor for the old l and acc: 0 when the state was empty
};
TANDEM_HD Rescale online_rescale(float m_old, float m_tile) {
  const float m_new = fmaxf(m_old, m_tile);
  return {m_new, softmax_weight(m_old, m_new)};
}

// ---- split-K merge -------------------------------------------------------------------

// ml: [n_split][2] (m, l) of one query row. Returns the weights' common factors:
// w_s = softmax_weight(m_s, m) * inv_l.
struct Merged {
  float m;
  float inv_l;
};
TANDEM_HD Merged merge_states(const float* ml, int32_t n_split) {
  float m = -INFINITY;
  for (int32_t s = 0; s < n_split; ++s) m = fmaxf(m, ml[2 * s]);
  float l = 0.f;
  for (int32_t s = 0; s < n_split; ++s) l += ml[2 * s + 1] * softmax_weight(ml[2 * s], m);
  return {m, l > 0.f ? 1.f / l : 0.f};
}
TANDEM_HD float split_weight(const float* ml, int32_t s, const Merged& g) {
  return softmax_weight(ml[2 * s], g.m) * g.inv_l;
}
// sum_s w[s] * acc[s * acc_stride]: one output element from the splits' accumulators.
TANDEM_HD float merge_column(const float* w, const float* acc, int64_t acc_stride, int32_t n_split) {
  float o = 0.f;
  for (int32_t s = 0; s < n_split; ++s) o += w[s] * acc[s * acc_stride];
  return o;
}

// ---- decode split plan -------------------------------------------------------------

// Keys [0, n_ctx) of a decode token are cut into n_split ranges of `chunk` keys (the
// last one takes the rest); n_split == 1 runs the whole context in one CTA and needs
// no workspace and no merge.
struct DecodePlan {
  int32_t n_split = 1;
  int32_t chunk = 0;  // keys per split, a multiple of kTileKeys (unused when n_split == 1)
};

TANDEM_HD int32_t ceil_div(int32_t a, int32_t b) { return (a + b - 1) / b; }
TANDEM_HD int32_t round_up(int32_t a, int32_t b) { return ceil_div(a, b) * b; }

// The split for a launch of n_ctas CTAs per split (n_tokens * n_kv_heads * head slices)
// on a GPU of n_sm SMs whose longest context is max_ctx: enough splits to give about
// kDecodeCtasPerSm CTAs per SM, none shorter than kDecodeMinChunk keys, at most
// kDecodeMaxSplits. Then the chunk is rounded up to whole tiles and n_split recomputed,
// so the longest token leaves no split empty.
inline DecodePlan plan_decode(int64_t n_ctas, int32_t max_ctx, int32_t n_sm) {
  DecodePlan p;
  const int64_t target = int64_t{kDecodeCtasPerSm} * (n_sm > 0 ? n_sm : 1);
  if (n_ctas <= 0 || max_ctx < 2 * kDecodeMinChunk || n_ctas * 2 > target) return p;
  int64_t want = (target + n_ctas - 1) / n_ctas;
  if (want > max_ctx / kDecodeMinChunk) want = max_ctx / kDecodeMinChunk;
  if (want > kDecodeMaxSplits) want = kDecodeMaxSplits;
  if (want < 2) return p;
  p.chunk = round_up(ceil_div(max_ctx, static_cast<int32_t>(want)), kTileKeys);
  p.n_split = ceil_div(max_ctx, p.chunk);
  if (p.n_split < 2) p = DecodePlan{};
  return p;
}

// Keys of split s for a token with n_ctx keys: [begin, end), possibly empty. The ranges
// of s = 0..n_split-1 partition [0, n_ctx) for every n_ctx (also one past the plan's
// max_ctx: the last split takes what is left).
struct KeyRange {
  int32_t begin;
  int32_t end;
};
TANDEM_HD KeyRange split_range(int32_t n_ctx, const DecodePlan& p, int32_t s) {
  if (p.n_split <= 1) return {0, n_ctx};
  const int64_t b = int64_t{s} * p.chunk;
  const int32_t begin = b < n_ctx ? static_cast<int32_t>(b) : n_ctx;
  if (s == p.n_split - 1) return {begin, n_ctx};
  const int64_t e = b + p.chunk;
  return {begin, e < n_ctx ? static_cast<int32_t>(e) : n_ctx};
}

// Floats of split-K workspace: [n_tokens, n_heads, n_split, 2] (m, l) then
// [n_tokens, n_heads, n_split, head_dim] accumulators; 0 when n_split == 1.
inline int64_t decode_workspace_floats(const DecodePlan& p, int32_t n_tokens, int32_t n_heads, int32_t head_dim) {
  if (p.n_split <= 1) return 0;
  return int64_t{n_tokens} * n_heads * p.n_split * (2 + head_dim);
}

// ---- decode CTA layout ---------------------------------------------------------------

// One decode CTA runs one token, one KV head and `heads` (<= kDecodeMaxHeads) of its
// group's query heads over one split, a tile of kTileKeys keys at a time:
//  - scores: dot (g, key) for g < heads, key < 32 is done by `dot_threads` adjacent
//    threads (4 for one head, 2 for two, else 1), each over the float4 chunks
//    part, part + dot_threads, ... of head_dim, summed by shuffles;
//  - P.V: thread tid < row_groups * cols owns columns d = tid % cols + cols * c
//    (c < head_dim / cols) of heads g = tid / cols + row_groups * j (j < heads_per_thread).
struct DecodeLayout {
  int32_t heads;             // query heads of this CTA
  int32_t dot_threads;       // 1, 2 or 4
  int32_t tile_stride;       // floats per key row in the K/V tile: round_up(head_dim, 32) + 4 * dot_threads
  int32_t cols;              // head_dim (<= 128) or head_dim / 2
  int32_t col_blocks;        // head_dim / cols: 1 or 2
  int32_t row_groups;        // kThreads / cols
  int32_t heads_per_thread;  // ceil(heads / row_groups)
};
TANDEM_HD DecodeLayout decode_layout(int32_t head_dim, int32_t heads) {
  DecodeLayout l{};
  l.heads = heads;
  const int32_t dots = heads * kTileKeys;
  l.dot_threads = dots >= kThreads ? 1 : (kThreads / dots >= 4 ? 4 : kThreads / dots);
  // A stride of 4 * dot_threads floats past a multiple of 32 puts each quarter warp's
  // float4 reads (8, 4 or 2 keys, dot_threads adjacent chunks each) on distinct banks.
  l.tile_stride = round_up(head_dim, 32) + 4 * l.dot_threads;
  l.cols = head_dim <= kThreads ? head_dim : head_dim / 2;
  l.col_blocks = head_dim / l.cols;
  l.row_groups = kThreads / l.cols;
  l.heads_per_thread = ceil_div(heads, l.row_groups);
  return l;
}
// The kernel instance's register budget: heads_per_thread rounded up to 1, 2, 4 or 8.
TANDEM_HD int32_t decode_heads_per_thread_bucket(int32_t heads_per_thread) {
  return heads_per_thread <= 1 ? 1 : heads_per_thread <= 2 ? 2 : heads_per_thread <= 4 ? 4 : 8;
}
// Query heads per CTA and CTAs per KV head for a group.
TANDEM_HD int32_t decode_heads_per_cta(int32_t group) { return group < kDecodeMaxHeads ? group : kDecodeMaxHeads; }
TANDEM_HD int32_t decode_head_slices(int32_t group) { return ceil_div(group, kDecodeMaxHeads); }

// Shared memory of a decode CTA: q [heads, head_dim], the K/V tile [32, tile_stride],
// probabilities [heads, 32], corr [heads], (m, l) [heads, 2].
inline int64_t decode_smem_bytes(int32_t head_dim, int32_t heads) {
  const DecodeLayout l = decode_layout(head_dim, heads);
  return 4 * (int64_t{heads} * head_dim + int64_t{kTileKeys} * l.tile_stride + int64_t{heads} * kTileKeys +
              3 * int64_t{heads});
}

// ---- prefill CTA layout ----------------------------------------------------------------

// One prefill CTA runs `rows` query rows against one KV head: rows are (token, head)
// pairs, the heads of one token adjacent, so a group's K/V tile serves all its heads.
// Warp w owns rows [w * rows_per_warp, (w + 1) * rows_per_warp); lane = key in the
// score step, lane + 32 c = column in the P.V step.
struct PrefillTiling {
  int32_t rows_per_warp;   // 8 for head_dim <= 128, else 4 (registers: 32 accumulators)
  int32_t heads_per_cta;   // min(group, rows)
  int32_t tokens_per_cta;  // rows / heads_per_cta (1 when group >= rows)
  int32_t head_slices;     // CTAs per KV head and token tile: ceil(group / heads_per_cta)
  int32_t token_tiles;     // ceil(n_tokens / tokens_per_cta)
};
TANDEM_HD PrefillTiling prefill_tiling(int32_t n_tokens, int32_t group, int32_t head_dim) {
  PrefillTiling t{};
  t.rows_per_warp = head_dim <= 128 ? 8 : 4;
  const int32_t rows = kWarps * t.rows_per_warp;
  t.heads_per_cta = group < rows ? group : rows;
  t.tokens_per_cta = rows / t.heads_per_cta;
  t.head_slices = ceil_div(group, t.heads_per_cta);
  t.token_tiles = ceil_div(n_tokens, t.tokens_per_cta);
  return t;
}

// Row r of CTA (token_tile, slice): its token in the chunk and its head in the group;
// valid is false for the padding rows past the chunk's end or the group's end.
struct PrefillRow {
  int32_t token;
  int32_t head;
  bool valid;
};
TANDEM_HD PrefillRow prefill_row(const PrefillTiling& t, int32_t n_tokens, int32_t group, int32_t token_tile,
                                 int32_t slice, int32_t r) {
  PrefillRow row{};
  row.token = token_tile * t.tokens_per_cta + r / t.heads_per_cta;
  row.head = slice * t.heads_per_cta + r % t.heads_per_cta;
  row.valid = r < t.tokens_per_cta * t.heads_per_cta && row.token < n_tokens && row.head < group;
  return row;
}

// Floats per key row of the prefill K/V tile, where lane = key reads float4s: with
// head_dim % 8 == 0, stride / 4 is odd, so 8 consecutive keys hit 8 distinct bank groups.
TANDEM_HD int32_t prefill_tile_stride(int32_t head_dim) { return head_dim + 4; }

// Shared memory of a prefill CTA: q [rows, head_dim], the K/V tile [32, tile stride],
// probabilities [rows, 32].
inline int64_t prefill_smem_bytes(int32_t head_dim) {
  const int32_t rows = kWarps * (head_dim <= 128 ? 8 : 4);
  return 4 * (int64_t{rows} * head_dim + int64_t{kTileKeys} * prefill_tile_stride(head_dim) +
              int64_t{rows} * kTileKeys);
}

// ---- shape contract ----------------------------------------------------------------

// Why these shapes cannot run, or nullptr: KV type f32, f16, bf16 or q8_0; head_dim a
// multiple of 8 (q8_0: of 32) up to kMaxHeadDim; n_heads a positive multiple of
// n_kv_heads; block_tokens > 0.
inline const char* attention_shape_problem(DType type, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
                                           int32_t block_tokens) {
  if (type != DType::kF32 && type != DType::kF16 && type != DType::kBF16 && type != DType::kQ8_0)
    return "KV type is not f32, f16, bf16 or q8_0";
  if (head_dim <= 0 || head_dim > kMaxHeadDim || head_dim % 8 != 0)
    return "head_dim is not a multiple of 8 in 8..256";
  if (type == DType::kQ8_0 && head_dim % 32 != 0) return "q8_0 KV needs head_dim a multiple of 32";
  if (n_kv_heads <= 0 || n_heads <= 0 || n_heads % n_kv_heads != 0)
    return "n_heads is not a positive multiple of n_kv_heads";
  if (block_tokens <= 0) return "block_tokens is not positive";
  return nullptr;
}

}  // namespace tandem::gpu::attn
