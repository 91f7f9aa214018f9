#include "engine/context.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "cpu/attention.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "cpu/ops_ref.h"
#include "cpu/quant_ref.h"

namespace tandem {
namespace {

void grow(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

cpu::MatmulArgs linear_args(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  cpu::MatmulArgs a{w.type, w.data, w.rows, w.cols, x, n_tokens, y};
  a.packed = w.packed;
  return a;
}

void linear(const cpu::CpuLane& lane, const WeightView& w, const float* x, int64_t n_tokens,
            float* y) {
  cpu::matmul(lane, linear_args(w, x, n_tokens, y));
}

uint64_t matrix_bytes(const WeightView& w) {
  return *row_bytes(w.type, static_cast<uint64_t>(w.cols)) * static_cast<uint64_t>(w.rows);
}

void add_bias(const WeightView& b, float* y, int64_t n_tokens) {
  if (!b.present()) return;
  const float* bias = static_cast<const float*>(b.data);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t i = 0; i < b.cols; ++i) y[t * b.cols + i] += bias[i];
}

}  // namespace

Result<std::unique_ptr<Context>> Context::create(const Model& model, const ContextConfig& cfg) {
  const ModelConfig& mc = model.config();
  if (cfg.n_seq <= 0 || cfg.n_ctx < 0 || cfg.block_tokens <= 0)
    return Error(Code::kInvalidArgument) << "context: n_seq " << cfg.n_seq << ", n_ctx " << cfg.n_ctx
                                         << ", block_tokens " << cfg.block_tokens;
  const int32_t n_ctx = cfg.n_ctx > 0 ? cfg.n_ctx : std::min(mc.n_ctx_train, 4096);
  KvCacheConfig kc;
  kc.n_layers = mc.n_layer;
  kc.n_kv_heads = mc.n_head_kv;
  kc.head_dim = mc.head_dim;
  kc.block_tokens = cfg.block_tokens;
  constexpr int32_t kMaxCtx = 1 << 24;  // 16M tokens: far past any model, far from overflow
  if (n_ctx > kMaxCtx)
    return Error(Code::kInvalidArgument) << "context of " << n_ctx << " tokens exceeds the limit of " << kMaxCtx;
  const int64_t blocks_per_seq = (int64_t{n_ctx} + cfg.block_tokens - 1) / cfg.block_tokens;
  // One spare block per sequence covers copy-on-write of a shared partial block.
  const int64_t n_blocks = (blocks_per_seq + 1) * cfg.n_seq;
  if (n_blocks > INT32_MAX) return Error(Code::kInvalidArgument) << "context too large";
  kc.n_blocks = static_cast<int32_t>(n_blocks);
  kc.type = cfg.kv_type;
  TANDEM_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(kc));
  TANDEM_ASSIGN_OR_RETURN(const cpu::Isa isa, cpu::runtime_isa());
  return std::unique_ptr<Context>(new Context(model, cfg, std::move(kv), n_ctx, isa));
}

Context::Context(const Model& m, const ContextConfig& cfg, KvCache kv, int32_t n_ctx, cpu::Isa isa)
    : model_(m), cfg_(cfg), arena_(cfg.n_threads), lane_{isa, &arena_}, kv_(std::move(kv)), n_ctx_(n_ctx),
      seqs_(static_cast<size_t>(cfg.n_seq)) {}

void Context::truncate(SeqId s, int32_t n_keep) { kv_.truncate(seqs_.at(static_cast<size_t>(s)), n_keep); }

void Context::fork(SeqId src, SeqId dst) {
  kv_.fork(seqs_.at(static_cast<size_t>(src)), seqs_.at(static_cast<size_t>(dst)));
}

Result<std::span<const float>> Context::decode(std::span<const int32_t> tokens, bool all_logits,
                                               SeqId s) {
  if (s < 0 || s >= cfg_.n_seq)
    return Error(Code::kInvalidArgument) << "sequence " << s << " out of range [0, " << cfg_.n_seq << ")";
  if (tokens.empty()) return Error(Code::kInvalidArgument) << "decode of no tokens";
  const int32_t n_vocab = model_.config().n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      return Error(Code::kInvalidArgument) << "token " << tokens[i] << " at index " << i
                                           << " is outside the vocabulary [0, " << n_vocab << ")";
  SeqKv& seq = seqs_[static_cast<size_t>(s)];
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (seq.n_tokens + n > n_ctx_)
    return Error(Code::kOutOfRange) << "context full: " << seq.n_tokens << " cached + " << n
                                    << " new tokens exceed the context of " << n_ctx_;
  const int32_t pos0 = seq.n_tokens;
  TANDEM_TRY(kv_.reserve(seq, static_cast<int32_t>(n)));
  forward(tokens, seq, pos0, all_logits);
  const int64_t n_out = all_logits ? n : 1;
  return std::span<const float>(logits_.data(), static_cast<size_t>(n_out * n_vocab));
}

void Context::forward(std::span<const int32_t> tokens, SeqKv& seq, int32_t pos0, bool all_logits) {
  const ModelConfig& c = model_.config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t d = c.n_embd;
  grow(x_, n * d);
  grow(xn_, n * d);
  grow(q_, n * c.q_dim());
  grow(k_, n * c.kv_dim());
  grow(v_, n * c.kv_dim());
  grow(attn_, n * c.q_dim());
  grow(tmp_, n * d);
  grow(gate_, n * c.n_ff);
  grow(up_, n * c.n_ff);

  StepProfile* const prof = profile_;
  if (prof != nullptr) ++prof->passes;
  const WeightView& emb = model_.token_embd();
  const size_t emb_row = *row_bytes(emb.type, static_cast<uint64_t>(d));
  {
    StepTimer timer(prof, StepOp::kEmbed, emb_row * static_cast<uint64_t>(n));
    for (int64_t t = 0; t < n; ++t)
      cpu::dequantize_row_ref(emb.type, static_cast<const std::byte*>(emb.data) + emb_row * static_cast<size_t>(tokens[static_cast<size_t>(t)]),
                              x_.data() + t * d, d);
  }
  const auto norm = [&](const WeightView& w, int64_t first, int64_t count) {
    StepTimer timer(prof, StepOp::kNorm);
    for (int64_t t = first; t < first + count; ++t)
      cpu::rms_norm_ref(x_.data() + t * d, static_cast<const float*>(w.data), xn_.data() + (t - first) * d, d, c.rms_eps);
  };
  const auto residual = [&] {
    StepTimer timer(prof, StepOp::kResidual);
    for (int64_t i = 0; i < n * d; ++i) x_[static_cast<size_t>(i)] += tmp_[static_cast<size_t>(i)];
  };

  for (int32_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& L = model_.layers()[static_cast<size_t>(il)];
    norm(L.attn_norm, 0, n);
    {
      StepTimer timer(prof, StepOp::kQkv, matrix_bytes(L.wq) + matrix_bytes(L.wk) + matrix_bytes(L.wv));
      const cpu::MatmulArgs qkv[] = {linear_args(L.wq, xn_.data(), n, q_.data()),
                                     linear_args(L.wk, xn_.data(), n, k_.data()),
                                     linear_args(L.wv, xn_.data(), n, v_.data())};
      cpu::matmul_shared_input(lane_, qkv);
      add_bias(L.bq, q_.data(), n);
      add_bias(L.bk, k_.data(), n);
      add_bias(L.bv, v_.data(), n);
    }
    attention_layer(il, seq, pos0, n);
    {
      StepTimer timer(prof, StepOp::kAttnOut, matrix_bytes(L.wo));
      linear(lane_, L.wo, attn_.data(), n, tmp_.data());
    }
    residual();

    norm(L.ffn_norm, 0, n);
    {
      StepTimer timer(prof, StepOp::kGateUp, matrix_bytes(L.w_gate) + matrix_bytes(L.w_up));
      const cpu::MatmulArgs gate_up[] = {linear_args(L.w_gate, xn_.data(), n, gate_.data()),
                                         linear_args(L.w_up, xn_.data(), n, up_.data())};
      cpu::matmul_shared_input(lane_, gate_up);
    }
    {
      StepTimer timer(prof, StepOp::kSiluMul);
      cpu::silu_mul(lane_, gate_.data(), up_.data(), gate_.data(), n * c.n_ff);
    }
    {
      StepTimer timer(prof, StepOp::kDown, matrix_bytes(L.w_down));
      linear(lane_, L.w_down, gate_.data(), n, tmp_.data());
    }
    residual();
  }

  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t n_out = n - first;
  norm(model_.output_norm(), first, n_out);
  grow(logits_, n_out * c.n_vocab);
  StepTimer timer(prof, StepOp::kOutput, matrix_bytes(model_.output()));
  linear(lane_, model_.output(), xn_.data(), n_out, logits_.data());
}

void Context::attention_layer(int32_t il, const SeqKv& seq, int32_t pos0, int64_t n) {
  const ModelConfig& c = model_.config();
  cpu::RopeParams rp;
  rp.n_rot = c.n_rot;
  rp.freq_base = c.rope_freq_base;
  rp.freq_scale = c.rope_freq_scale;
  rp.style = c.rope_style;
  rp.freq_factors = model_.rope_freqs().present() ? static_cast<const float*>(model_.rope_freqs().data) : nullptr;
  {
    StepTimer timer(profile_, StepOp::kRopeKv);
    for (int64_t t = 0; t < n; ++t) {
      const int32_t pos = pos0 + static_cast<int32_t>(t);
      cpu::rope_ref(q_.data() + t * c.q_dim(), c.n_head, c.head_dim, pos, rp);
      cpu::rope_ref(k_.data() + t * c.kv_dim(), c.n_head_kv, c.head_dim, pos, rp);
      kv_.write(il, seq, pos, k_.data() + t * c.kv_dim(), v_.data() + t * c.kv_dim());
    }
  }
  const cpu::PagedKv view = kv_.layer_view(il);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  // Token t attends to positions [0, pos0 + t] (causal).
  cpu::AttnBatch b;
  b.q = q_.data();
  b.out = attn_.data();
  b.n_tokens = n;
  b.n_heads = c.n_head;
  b.kv = view;
  b.block_table = seq.table;
  b.n_ctx0 = pos0 + 1;
  b.scale = scale;
  StepTimer timer(profile_, StepOp::kAttention);
  cpu::attention_decode(lane_, b);
}

}  // namespace tandem
