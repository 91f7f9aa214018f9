// The device work of one chunk: a repeating layer and the output head, on device
// pointers, with the kernels of this directory. The same ops in the same order as the
// emulated executor's layer() and head() (engine/emulated_gpu.cpp), which define the
// semantics:
//   x_norm = rms_norm(x) * attn_norm; q, k, v = x_norm . Wq/Wk/Wv^T (+ biases);
//   RoPE of q and k at each token's position; K and V rows into the paged pools (every
//   token's first, so a token sees the earlier tokens of its own chunk); attention;
//   x += attn . Wo^T; x_norm = rms_norm(x) * ffn_norm;
//   x += (silu(x_norm . Wgate^T) * (x_norm . Wup^T)) . Wdown^T.
// Every launch is queued on env.lane.stream; nothing waits for the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/status.h"
#include "gpu/cuda/exec_chunk.h"
#include "gpu/cuda/linear.h"
#include "gpu/executor.h"

namespace tandem::gpu {

// One layer's weights and KV pools in device memory.
struct DeviceLayer {
  const float* attn_norm = nullptr;            // [n_embd]
  DeviceMatrix wq, wk, wv;                     // [q_dim | kv_dim, n_embd]
  const float* bq = nullptr;                   // [q_dim] or null
  const float* bk = nullptr;                   // [kv_dim] or null
  const float* bv = nullptr;                   // [kv_dim] or null
  DeviceMatrix wo;                             // [n_embd, q_dim]
  const float* ffn_norm = nullptr;             // [n_embd]
  DeviceMatrix w_gate, w_up, w_down;           // [n_ff, n_embd], [n_ff, n_embd], [n_embd, n_ff]
  void* k_pool = nullptr;                      // [n_blocks, n_head_kv, block_tokens, head_dim] of KvDesc::type
  void* v_pool = nullptr;
};

// The plan's activation slots (row-major [max_batch, width] f32 unless said) and the
// chunk's attention indices.
struct DeviceActivations {
  float* x = nullptr;            // [., n_embd]
  float* x_norm = nullptr;       // [., n_embd]
  float* q = nullptr;            // [., q_dim]
  float* k = nullptr;            // [., kv_dim]
  float* v = nullptr;            // [., kv_dim]
  float* attn_out = nullptr;     // [., q_dim]
  float* ffn_gate = nullptr;     // [., n_ff]
  float* ffn_up = nullptr;       // [., n_ff]
  float* proj_out = nullptr;     // [., n_embd]
  float* logits = nullptr;       // [logit_rows, n_vocab]
  int32_t* positions = nullptr;     // [.] i32
  int32_t* block_tables = nullptr;  // [max_seqs, blocks_per_seq] i32
  int32_t* table_start = nullptr;   // [.] i32 (exec_chunk.h)
  int32_t* n_ctx = nullptr;         // [.] i32
};

struct ForwardEnv {
  ExecModel model;
  KvDesc kv;
  const float* rope_freqs = nullptr;  // device, [n_rot / 2], or null
  int32_t blocks_per_seq = 0;         // the block tables' row length
  LinearLane lane;
  DeviceActivations act;
  void* attn_workspace = nullptr;     // split-K decode attention scratch, 16-byte aligned
  size_t attn_workspace_bytes = 0;
  int32_t n_sm = 1;                   // the split plan's SM count
};

// x [n, n_embd] through layer `l`; groups: the chunk's attention launches (plan_chunk),
// whose positions, tables, table_start and n_ctx are already in env.act.
Status layer_forward(const ForwardEnv& env, const DeviceLayer& l, int64_t n, std::span<const AttnGroup> groups);

// Logits of the rows of x named by `runs` (gathered in order into x_norm rows
// [0, n_rows)) into act.logits [n_rows, n_vocab]; n_rows <= the logits buffer's rows.
Status head_forward(const ForwardEnv& env, const float* output_norm, const DeviceMatrix& output,
                    std::span<const RowRun> runs, int64_t n_rows);

}  // namespace tandem::gpu
