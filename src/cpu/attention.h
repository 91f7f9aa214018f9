// Fast decode attention over a paged KV cache: the contract of attention_decode_ref
// (cpu/ops_ref.h), computed per KV head for all of its query heads at once, so each K
// and V row is read (and converted from f16/bf16) once per GQA group rather than once
// per query head. Online softmax, f32 math; f32, f16, bf16 and q8_0 KV (q8_0 rows are
// dequantized to exactly dequantize_row_ref's values, d * q).
//
// Results differ from attention_decode_ref by f32 rounding only (summation order of the
// dot products, the softmax sum and the weighted V sum; AVX-512 evaluates exp with a
// polynomial within a few ulps of expf). See tests/cpu/attention_test.cpp for the bound.
#pragma once

#include <cstdint>
#include <span>

#include "cpu/cpu_lane.h"
#include "cpu/isa.h"
#include "cpu/ops_ref.h"

namespace tandem::cpu {

// Query tokens of one sequence, in order; token i attends to the sequence's first
// n_ctx0 + i cached tokens (causal prefill: n_ctx0 = pos0 + 1; one decode token: n = 1).
struct AttnBatch {
  const float* q = nullptr;             // [n_tokens, n_heads, head_dim]
  float* out = nullptr;                 // [n_tokens, n_heads, head_dim]
  int64_t n_tokens = 0;
  int32_t n_heads = 0;                  // a multiple of kv.n_kv_heads
  PagedKv kv;                           // K, V: [n_blocks, n_kv_heads, block_tokens, head_dim]
  std::span<const int32_t> block_table; // [ceil((n_ctx0 + n_tokens - 1) / block_tokens)]
  int32_t n_ctx0 = 0;                   // >= 1
  float scale = 1.f;                    // applied to q.k
};

// Runs the batch on the lane's threads with the lane's ISA. Work is split over
// (token, KV head) pairs; when those are fewer than the threads (one decode token,
// few KV heads) and the context is long, each pair's tokens are also split into
// ranges whose partial softmax states (max, sum, acc) are merged (attention_splits()).
// Head dims the SIMD kernels do not take (attention_simd_head_dim_ok) and
// Isa::kScalar run attention_decode_ref per token.
void attention_decode(const CpuLane& lane, const AttnBatch& b);

// One query token on the calling thread (the kernel the lane version runs per task).
void attention_decode_one(Isa isa, const float* q, int32_t n_heads, const PagedKv& kv,
                          std::span<const int32_t> block_table, int32_t n_ctx, float scale,
                          float* out);

// Whether isa's kernel takes this head dim and group (avx512: head_dim % 16 == 0,
// avx2: head_dim % 8 == 0; both head_dim <= 256, n_heads / n_kv_heads <= 256).
bool attention_simd_ok(Isa isa, int32_t head_dim, int32_t group);

// Context ranges per (token, KV head) pair for one call: 1 unless n_tokens == 1,
// n_kv_heads < n_threads and n_ctx >= 2 * kAttnMinSplitTokens. Pure; tests call it.
inline constexpr int32_t kAttnMinSplitTokens = 128;
int32_t attention_splits(int64_t n_tokens, int32_t n_kv_heads, int32_t n_ctx, int n_threads);

}  // namespace tandem::cpu
