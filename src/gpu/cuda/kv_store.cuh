// Writes a batch's K and V rows into the paged KV pools on the GPU: the contract of
// cpu::store_kv_row (cpu/ops_ref.h), for every token and KV head at once. Token t of
// the batch is at position positions[t] of the sequence whose block table starts at
// block_tables + table_start[t]; its row of KV head h goes to row
//   (table[pos / block_tokens] * n_kv_heads + h) * block_tokens + pos % block_tokens
// of each pool (attention_kv.h's kv_row). Stored exactly as the CPU stores it:
// f32 as is, f16 rounded to nearest even (f32_to_fp16), bf16 rounded to nearest even
// (f32_to_bf16), q8_0 quantized as quantize_q8_0_ref (d = absmax / 127 in f32, stored
// as f16; q = round(x / d) with 1 / d in f32), so the GPU's cache holds the CPU's
// bytes for the same K and V (NaN payloads aside).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace tandem::gpu {

struct KvStoreArgs {
  const float* k = nullptr;              // device, [n_tokens, n_kv_heads, head_dim]
  const float* v = nullptr;              // device, [n_tokens, n_kv_heads, head_dim]
  void* k_pool = nullptr;                // device, [n_blocks, n_kv_heads, block_tokens, head_dim] of type
  void* v_pool = nullptr;
  DType type = DType::kF16;              // f32, f16, bf16 or q8_0
  int32_t n_tokens = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;                  // q8_0: a multiple of 32
  int32_t block_tokens = 0;
  const int32_t* positions = nullptr;    // device, [n_tokens]
  const int32_t* block_tables = nullptr; // device, the tokens' tables, concatenated
  const int32_t* table_start = nullptr;  // device, [n_tokens]: offset of token t's table
};

// cudaErrorInvalidValue for a type, shape or null pointer off the contract (out of
// range positions or block ids are the caller's bug: not checked on the device).
cudaError_t kv_store(const KvStoreArgs& a, cudaStream_t stream);

}  // namespace tandem::gpu
