// Attention over the paged KV cache on the GPU: the contract of cpu::attention_decode_ref
// (cpu/ops_ref.h) and of the CPU's AttnBatch (cpu/attention.h), f32 queries and outputs,
// f32 math with an online softmax, K/V read as stored (f32, f16, bf16, q8_0: each value
// converted exactly as cpu::load_kv_row converts it). Query head h reads KV head
// h / (n_heads / n_kv_heads); a CTA reads each K/V row once for all the query heads of
// its group it serves (up to 8 in decode, up to 32 rows of (token, head) in prefill).
//
// Results differ from the CPU reference by f32 rounding only: the order of the dot
// products' sums (and fused multiply-adds), of the softmax denominator and of the
// weighted V sums, and the GPU's expf (within 2 ulp); split-K rescales once more.
//
// All pointers are device memory. Launchers check the shapes on the host
// (attention_shape_problem) and return cudaErrorInvalidValue before any launch when they
// are off the contract, cudaSuccess with nothing launched for zero tokens, else the
// launch's cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "gpu/cuda/attention_common.h"  // DecodePlan, plan_decode, decode_workspace_floats

namespace tandem::gpu {

// One layer's paged KV pools (engine/kv_cache.h's layout, in device memory).
struct AttnKv {
  const void* k = nullptr;  // [n_blocks, n_kv_heads, block_tokens, head_dim] of type;
  const void* v = nullptr;  //   16-byte aligned (q8_0: 2-byte)
  DType type = DType::kF16; // f32, f16, bf16, q8_0
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;     // a multiple of 8 (q8_0: 32), at most 256
  int32_t block_tokens = 0;
};

// A batch of decode tokens, each with its own sequence: token t attends to the first
// n_ctx[t] tokens of the sequence whose block table starts at
// block_tables + table_start[t]. Tokens of one sequence (a causal chunk) may share a
// table with n_ctx = n_ctx0 + i, as the CPU's AttnBatch does.
struct DecodeAttnArgs {
  const float* q = nullptr;              // [n_tokens, n_heads, head_dim]
  float* out = nullptr;                  // [n_tokens, n_heads, head_dim]
  int32_t n_tokens = 0;
  int32_t n_heads = 0;                   // a multiple of kv.n_kv_heads
  AttnKv kv;
  const int32_t* block_tables = nullptr; // the tokens' block tables, concatenated (CSR)
  const int32_t* table_start = nullptr;  // [n_tokens]: offset of token t's table
  const int32_t* n_ctx = nullptr;        // [n_tokens]: 1 .. max_ctx (a table holds
                                         //   ceil(n_ctx / block_tokens) blocks)
  int32_t max_ctx = 0;                   // the largest n_ctx[t], known to the host
  float scale = 1.f;                     // applied to q.k
};

// The split plan for a batch on a GPU with n_sm SMs (attention_common.h's plan_decode
// for this batch's CTA count). Tests and the engine may pass any other valid plan
// (n_split in 1..kDecodeMaxSplits, chunk a positive multiple of kTileKeys when
// n_split > 1); every plan gives the same results up to f32 rounding.
attn::DecodePlan plan_decode_for(const DecodeAttnArgs& a, int32_t n_sm);
// Bytes of workspace a plan needs (0 for n_split == 1).
size_t decode_workspace_bytes(const attn::DecodePlan& plan, int32_t n_tokens, int32_t n_heads, int32_t head_dim);

// Decode attention: one CTA per (token, KV head, slice of up to 8 of its query heads,
// split), then, when plan.n_split > 1, a merge kernel over the splits' partial states.
// workspace: device, 16-byte aligned, at least decode_workspace_bytes(...) bytes (may
// be null when n_split == 1). Out of range n_ctx[t] or table entries are the caller's
// bug (not checked on the device).
cudaError_t attention_decode(const DecodeAttnArgs& a, const attn::DecodePlan& plan, void* workspace,
                             size_t workspace_bytes, cudaStream_t stream);

// Causal prefill of one chunk of one sequence whose K/V (the chunk's own included) are
// already in the cache: token i attends to the first n_ctx0 + i cached tokens.
struct PrefillAttnArgs {
  const float* q = nullptr;              // [n_tokens, n_heads, head_dim]
  float* out = nullptr;                  // [n_tokens, n_heads, head_dim]
  int32_t n_tokens = 0;
  int32_t n_heads = 0;                   // a multiple of kv.n_kv_heads
  AttnKv kv;
  const int32_t* block_table = nullptr;  // [ceil((n_ctx0 + n_tokens - 1) / block_tokens)]
  int32_t n_ctx0 = 0;                    // >= 1 (pos0 + 1 for a chunk starting at pos0)
  float scale = 1.f;
};

// Flash-attention style: one CTA per (tile of query rows, KV head, head slice); the rows
// are (token, head) pairs of one KV group (prefill_tiling); keys stream through shared
// memory 32 at a time with an online softmax, no score matrix in memory. f32 SIMT math.
cudaError_t attention_prefill(const PrefillAttnArgs& a, cudaStream_t stream);

}  // namespace tandem::gpu
