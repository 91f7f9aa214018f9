#include "gpu/cuda/cuda_forward.h"

#include <cmath>
#include <string>

#include "gpu/cuda/attention.cuh"
#include "gpu/cuda/bias_add.cuh"
#include "gpu/cuda/copy.h"
#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/kv_store.cuh"
#include "gpu/cuda/launch_status.h"
#include "gpu/cuda/residual_add.cuh"
#include "gpu/cuda/rms_norm.cuh"
#include "gpu/cuda/rope.cuh"
#include "gpu/cuda/silu_gate.cuh"

namespace tandem::gpu {
namespace {

std::string rows_of(int64_t n, int64_t width) {
  return "[" + std::to_string(n) + ", " + std::to_string(width) + "]";
}

Status rope(const ForwardEnv& env, float* x, int32_t n_heads, int64_t n, const char* what) {
  const ExecModel& m = env.model;
  if (m.n_rot == 0) return Status::ok();
  RopeArgs a;
  a.n_tokens = static_cast<int32_t>(n);
  a.n_heads = n_heads;
  a.head_dim = m.head_dim;
  a.n_rot = m.n_rot;
  a.freq_base = m.rope_freq_base;
  a.freq_scale = m.rope_freq_scale;
  a.style = m.rope == RopeKind::kNeox ? RopeStyle::kNeox : RopeStyle::kNormal;
  a.positions = env.act.positions;
  a.freq_factors = env.rope_freqs;
  return launch_status(rope_f32(x, a, env.lane.stream), "rope_f32", [&] {
    return std::string(what) + " " + rows_of(n, int64_t{n_heads} * m.head_dim) + ", n_rot " + std::to_string(m.n_rot);
  });
}

AttnKv attn_kv(const ForwardEnv& env, const DeviceLayer& l) {
  AttnKv kv;
  kv.k = l.k_pool;
  kv.v = l.v_pool;
  kv.type = env.kv.type;
  kv.n_kv_heads = env.model.n_head_kv;
  kv.head_dim = env.model.head_dim;
  kv.block_tokens = env.kv.block_tokens;
  return kv;
}

// Attention of the chunk's rows, group by group, from q into attn_out.
Status attention(const ForwardEnv& env, const DeviceLayer& l, std::span<const AttnGroup> groups) {
  const ExecModel& m = env.model;
  const DeviceActivations& a = env.act;
  const int64_t qd = m.q_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  for (const AttnGroup& g : groups) {
    if (g.prefill) {
      PrefillAttnArgs p;
      p.q = a.q + g.first * qd;
      p.out = a.attn_out + g.first * qd;
      p.n_tokens = g.n;
      p.n_heads = m.n_head;
      p.kv = attn_kv(env, l);
      p.block_table = a.block_tables + int64_t{g.seg} * env.blocks_per_seq;
      p.n_ctx0 = g.pos0 + 1;
      p.scale = scale;
      TANDEM_TRY(launch_status(attention_prefill(p, env.lane.stream), "attention_prefill", [&] {
        return std::to_string(g.n) + " tokens from position " + std::to_string(g.pos0) + ", " +
               std::string(dtype_name(env.kv.type)) + " KV";
      }));
      continue;
    }
    DecodeAttnArgs d;
    d.q = a.q + g.first * qd;
    d.out = a.attn_out + g.first * qd;
    d.n_tokens = g.n;
    d.n_heads = m.n_head;
    d.kv = attn_kv(env, l);
    d.block_tables = a.block_tables;
    d.table_start = a.table_start + g.first;
    d.n_ctx = a.n_ctx + g.first;
    d.max_ctx = g.plan_ctx;  // for the split plan: at least the longest context (exec_chunk.h)
    d.scale = scale;
    attn::DecodePlan plan = plan_decode_for(d, env.n_sm);
    if (decode_workspace_bytes(plan, d.n_tokens, d.n_heads, m.head_dim) > env.attn_workspace_bytes)
      plan = attn::DecodePlan{};  // no room to split: one CTA per (token, head slice) over the whole context
    TANDEM_TRY(launch_status(
        attention_decode(d, plan, env.attn_workspace, env.attn_workspace_bytes, env.lane.stream), "attention_decode",
        [&] {
          return std::to_string(g.n) + " tokens, contexts up to " + std::to_string(g.max_ctx) + ", " +
                 std::to_string(plan.n_split) + " splits, " + std::string(dtype_name(env.kv.type)) + " KV";
        }));
  }
  return Status::ok();
}

}  // namespace

Status layer_forward(const ForwardEnv& env, const DeviceLayer& l, int64_t n, std::span<const AttnGroup> groups) {
  const ExecModel& m = env.model;
  const DeviceActivations& a = env.act;
  const cudaStream_t s = env.lane.stream;
  const int64_t d = m.n_embd, qd = m.q_dim(), kvd = m.kv_dim(), ff = m.n_ff;
  const RowShape rows{n, d};
  const auto check = [&](cudaError_t e, const char* call, int64_t width) {
    return launch_status(e, call, [&] { return rows_of(n, width); });
  };

  TANDEM_TRY(check(rms_norm_f32(a.x, l.attn_norm, a.x_norm, rows, m.rms_eps, s), "rms_norm_f32 (attn_norm)", d));
  TANDEM_TRY(linear(env.lane, l.wq, a.x_norm, n, a.q));
  TANDEM_TRY(linear(env.lane, l.wk, a.x_norm, n, a.k));
  TANDEM_TRY(linear(env.lane, l.wv, a.x_norm, n, a.v));
  if (l.bq != nullptr) TANDEM_TRY(check(bias_add_f32(a.q, l.bq, n, qd, s), "bias_add_f32 (q)", qd));
  if (l.bk != nullptr) TANDEM_TRY(check(bias_add_f32(a.k, l.bk, n, kvd, s), "bias_add_f32 (k)", kvd));
  if (l.bv != nullptr) TANDEM_TRY(check(bias_add_f32(a.v, l.bv, n, kvd, s), "bias_add_f32 (v)", kvd));
  TANDEM_TRY(rope(env, a.q, m.n_head, n, "q"));
  TANDEM_TRY(rope(env, a.k, m.n_head_kv, n, "k"));

  KvStoreArgs kv;
  kv.k = a.k;
  kv.v = a.v;
  kv.k_pool = l.k_pool;
  kv.v_pool = l.v_pool;
  kv.type = env.kv.type;
  kv.n_tokens = static_cast<int32_t>(n);
  kv.n_kv_heads = m.n_head_kv;
  kv.head_dim = m.head_dim;
  kv.block_tokens = env.kv.block_tokens;
  kv.positions = a.positions;
  kv.block_tables = a.block_tables;
  kv.table_start = a.table_start;
  TANDEM_TRY(launch_status(kv_store(kv, s), "kv_store", [&] {
    return rows_of(n, kvd) + " K and V rows into " + std::string(dtype_name(env.kv.type)) + " pools";
  }));
  TANDEM_TRY(attention(env, l, groups));

  TANDEM_TRY(linear(env.lane, l.wo, a.attn_out, n, a.proj_out));
  TANDEM_TRY(check(residual_add_f32(a.x, a.proj_out, a.x, n * d, s), "residual_add_f32 (attention)", d));

  TANDEM_TRY(check(rms_norm_f32(a.x, l.ffn_norm, a.x_norm, rows, m.rms_eps, s), "rms_norm_f32 (ffn_norm)", d));
  TANDEM_TRY(linear(env.lane, l.w_gate, a.x_norm, n, a.ffn_gate));
  TANDEM_TRY(linear(env.lane, l.w_up, a.x_norm, n, a.ffn_up));
  TANDEM_TRY(check(silu_gate_f32(a.ffn_gate, a.ffn_up, a.ffn_gate, n * ff, s), "silu_gate_f32", ff));
  TANDEM_TRY(linear(env.lane, l.w_down, a.ffn_gate, n, a.proj_out));
  return check(residual_add_f32(a.x, a.proj_out, a.x, n * d, s), "residual_add_f32 (ffn)", d);
}

Status head_forward(const ForwardEnv& env, const float* output_norm, const DeviceMatrix& output,
                    std::span<const RowRun> runs, int64_t n_rows) {
  const ExecModel& m = env.model;
  const DeviceActivations& a = env.act;
  const int64_t d = m.n_embd;
  const auto row_bytes = static_cast<uint64_t>(d) * sizeof(float);
  for (const RowRun& r : runs)  // the wanted rows of x, in order, into x_norm
    TANDEM_TRY(copy_on_device(a.x_norm + r.dst * d, a.x + r.src * d, static_cast<uint64_t>(r.len) * row_bytes,
                              env.lane.stream));
  TANDEM_TRY(launch_status(rms_norm_f32(a.x_norm, output_norm, a.x_norm, RowShape{n_rows, d}, m.rms_eps, env.lane.stream),
                           "rms_norm_f32 (output_norm)", [&] { return rows_of(n_rows, d); }));
  return linear(env.lane, output, a.x_norm, n_rows, a.logits);
}

}  // namespace tandem::gpu
