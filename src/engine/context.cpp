#include "engine/context.h"

#include <algorithm>
#include <cmath>
#include <string>

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

Result<std::unique_ptr<Context>> Context::create(const Model& model, const ContextConfig& cfg, DeviceLayers device) {
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
  if (const gpu::GpuExecutor* e = device.executor.get()) {
    // The device's KV blocks are addressed with this context's block tables.
    const gpu::KvDesc dk = e->kv();
    if (e->n_layer() != mc.n_layer || dk.type != kc.type || dk.block_tokens != kc.block_tokens ||
        dk.n_blocks != kc.n_blocks)
      return Error(Code::kInvalidArgument)
             << "the GPU layers were planned for another context: " << e->n_layer() << " layers, KV "
             << dtype_name(dk.type) << " in " << dk.n_blocks << " blocks of " << dk.block_tokens
             << " tokens; this context has " << mc.n_layer << " layers, KV " << dtype_name(kc.type) << " in "
             << kc.n_blocks << " blocks of " << kc.block_tokens << " tokens (n_ctx " << n_ctx << ", " << cfg.n_seq
             << " sequences)";
    kc.n_layers = e->first_layer();  // the CPU's KV holds only the CPU's layers
  }
  TANDEM_ASSIGN_OR_RETURN(KvCache kv, KvCache::create(kc));
  TANDEM_ASSIGN_OR_RETURN(const cpu::Isa isa, cpu::runtime_isa());
  return std::unique_ptr<Context>(new Context(model, cfg, std::move(kv), n_ctx, isa, std::move(device)));
}

Context::Context(const Model& m, const ContextConfig& cfg, KvCache kv, int32_t n_ctx, cpu::Isa isa,
                 DeviceLayers device)
    : model_(m), cfg_(cfg), arena_(cfg.n_threads), lane_{isa, &arena_}, kv_(std::move(kv)), n_ctx_(n_ctx),
      seqs_(static_cast<size_t>(cfg.n_seq)), device_(std::move(device)),
      n_cpu_layers_(device_.executor ? device_.executor->first_layer() : m.config().n_layer) {}

void Context::truncate(SeqId s, int32_t n_keep) { kv_.truncate(seqs_.at(static_cast<size_t>(s)), n_keep); }

void Context::fork(SeqId src, SeqId dst) {
  kv_.fork(seqs_.at(static_cast<size_t>(src)), seqs_.at(static_cast<size_t>(dst)));
}

Result<std::span<const float>> Context::decode(std::span<const int32_t> tokens, bool all_logits,
                                               SeqId s) {
  const DecodeEntry entry{s, tokens, all_logits};
  TANDEM_ASSIGN_OR_RETURN(const BatchLogits out, decode_batch({&entry, 1}));
  return out.logits;
}

Status Context::check_batch(std::span<const DecodeEntry> entries) const {
  if (entries.empty()) return Error(Code::kInvalidArgument) << "decode of an empty batch";
  const int32_t n_vocab = model_.config().n_vocab;
  // Names entry e in messages; a batch of one is just its sequence.
  const auto where = [&](size_t e) {
    const std::string seq = "sequence " + std::to_string(entries[e].seq);
    return entries.size() == 1 ? seq : "batch entry " + std::to_string(e) + " (" + seq + ")";
  };
  std::vector<int64_t> entry_of(static_cast<size_t>(cfg_.n_seq), -1);  // [n_seq]: the entry naming it
  for (size_t e = 0; e < entries.size(); ++e) {
    const DecodeEntry& en = entries[e];
    if (en.seq < 0 || en.seq >= cfg_.n_seq)
      return Error(Code::kInvalidArgument) << where(e) << ": out of range [0, " << cfg_.n_seq << ")";
    int64_t& first = entry_of[static_cast<size_t>(en.seq)];
    if (first >= 0)
      return Error(Code::kInvalidArgument) << where(e) << ": the sequence is already batch entry " << first
                                           << " (a batch runs each sequence at most once)";
    first = static_cast<int64_t>(e);
    if (en.tokens.empty()) return Error(Code::kInvalidArgument) << where(e) << ": decode of no tokens";
    for (size_t i = 0; i < en.tokens.size(); ++i)
      if (en.tokens[i] < 0 || en.tokens[i] >= n_vocab)
        return Error(Code::kInvalidArgument) << where(e) << ": token " << en.tokens[i] << " at index " << i
                                             << " is outside the vocabulary [0, " << n_vocab << ")";
    const int32_t cached = seqs_[static_cast<size_t>(en.seq)].n_tokens;
    if (static_cast<int64_t>(cached) + static_cast<int64_t>(en.tokens.size()) > n_ctx_)
      return Error(Code::kOutOfRange) << where(e) << ": context full: " << cached << " cached + "
                                      << en.tokens.size() << " new tokens exceed the context of " << n_ctx_;
  }
  return Status::ok();
}

Result<BatchLogits> Context::decode_batch(std::span<const DecodeEntry> entries) {
  TANDEM_TRY(check_batch(entries));
  tokens_.clear();
  tok_seg_.clear();
  segs_.clear();
  out_rows_.clear();
  first_out_.assign(1, 0);
  for (const DecodeEntry& en : entries) {
    const auto n = static_cast<int64_t>(en.tokens.size());
    const auto first = static_cast<int64_t>(tokens_.size());
    const SeqKv& seq = seqs_[static_cast<size_t>(en.seq)];
    tokens_.insert(tokens_.end(), en.tokens.begin(), en.tokens.end());
    tok_seg_.insert(tok_seg_.end(), static_cast<size_t>(n), static_cast<int32_t>(segs_.size()));
    segs_.push_back({&seq, first, n, seq.n_tokens});
    for (int64_t t = en.all_logits ? first : first + n - 1; t < first + n; ++t) out_rows_.push_back(t);
    first_out_.push_back(static_cast<int64_t>(out_rows_.size()));
  }
  // Room in the pool. Context::create sizes it so this cannot fail for sequences within
  // n_ctx; should it, the entries reserved so far give their new tokens back (a block
  // copied on write stays copied: same contents, the sequence unchanged).
  // Blocks copied on write are copied on the device too, whatever happens next.
  copies_.clear();
  Status reserved = Status::ok();
  size_t n_reserved = 0;
  for (; n_reserved < entries.size(); ++n_reserved) {
    const size_t e = n_reserved;
    reserved = kv_.reserve(seqs_[static_cast<size_t>(entries[e].seq)], static_cast<int32_t>(segs_[e].n), &copies_);
    if (!reserved.is_ok()) break;
  }
  const auto give_back = [&](size_t n_entries) {
    for (size_t r = 0; r < n_entries; ++r) kv_.truncate(seqs_[static_cast<size_t>(entries[r].seq)], segs_[r].pos0);
  };
  if (device_.executor && !copies_.empty()) {
    dev_copies_.clear();
    for (const KvBlockCopy& c : copies_) dev_copies_.push_back({c.from, c.to});
    if (Status st = device_.executor->copy_blocks(dev_copies_); !st.is_ok()) {
      give_back(n_reserved);
      return st.error();
    }
  }
  if (!reserved.is_ok()) {
    give_back(n_reserved);
    return Error(reserved.error().code()) << "sequence " << entries[n_reserved].seq << ": " << reserved.error().message();
  }
  if (Status st = forward(); !st.is_ok()) {  // a device error: the batch's tokens are not kept
    give_back(entries.size());
    return st.error();
  }
  const int32_t n_vocab = model_.config().n_vocab;
  BatchLogits out;
  out.logits = std::span<const float>(logits_.data(), out_rows_.size() * static_cast<size_t>(n_vocab));
  out.first_row = first_out_;
  out.n_vocab = n_vocab;
  return out;
}

Status Context::forward() {
  const ModelConfig& c = model_.config();
  const auto n = static_cast<int64_t>(tokens_.size());
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
      cpu::dequantize_row_ref(emb.type, static_cast<const std::byte*>(emb.data) + emb_row * static_cast<size_t>(tokens_[static_cast<size_t>(t)]),
                              x_.data() + t * d, d);
  }
  const auto norm = [&](const WeightView& w) {
    StepTimer timer(prof, StepOp::kNorm);
    for (int64_t t = 0; t < n; ++t)
      cpu::rms_norm_ref(x_.data() + t * d, static_cast<const float*>(w.data), xn_.data() + t * d, d, c.rms_eps);
  };
  const auto residual = [&] {
    StepTimer timer(prof, StepOp::kResidual);
    for (int64_t i = 0; i < n * d; ++i) x_[static_cast<size_t>(i)] += tmp_[static_cast<size_t>(i)];
  };

  for (int32_t il = 0; il < n_cpu_layers_; ++il) {
    const LayerWeights& L = model_.layers()[static_cast<size_t>(il)];
    norm(L.attn_norm);
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
    attention_layer(il);
    {
      StepTimer timer(prof, StepOp::kAttnOut, matrix_bytes(L.wo));
      linear(lane_, L.wo, attn_.data(), n, tmp_.data());
    }
    residual();

    norm(L.ffn_norm);
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

  const auto n_out = static_cast<int64_t>(out_rows_.size());
  if (device_.executor) {
    TANDEM_ASSIGN_OR_RETURN(const bool logits_done, device_forward());
    if (logits_done) return Status::ok();
  }
  // The rows whose logits are wanted, normalized into xn_ [n_out, d], then one matmul.
  {
    StepTimer timer(prof, StepOp::kNorm);
    const auto* w = static_cast<const float*>(model_.output_norm().data);
    for (int64_t k = 0; k < n_out; ++k)
      cpu::rms_norm_ref(x_.data() + out_rows_[static_cast<size_t>(k)] * d, w, xn_.data() + k * d, d, c.rms_eps);
  }
  grow(logits_, n_out * c.n_vocab);
  StepTimer timer(prof, StepOp::kOutput, matrix_bytes(model_.output()));
  linear(lane_, model_.output(), xn_.data(), n_out, logits_.data());
  return Status::ok();
}

Result<bool> Context::device_forward() {
  gpu::GpuExecutor& e = *device_.executor;
  const ModelConfig& c = model_.config();
  const auto n = static_cast<int64_t>(tokens_.size());
  const auto n_out = static_cast<int64_t>(out_rows_.size());
  const int64_t d = c.n_embd;
  gpu::ExecBatch b;
  b.first_layer = n_cpu_layers_;
  b.logits = e.has_head();
  if (b.logits) grow(logits_, n_out * c.n_vocab);
  b.out = b.logits ? logits_.data() : x_.data();  // logits [n_out, n_vocab] or the hidden state in place
  if (n_cpu_layers_ == c.n_layer) {
    // Only the head is on the device: send the rows whose logits are wanted, no more.
    for (int64_t k = 0; k < n_out; ++k)
      std::copy_n(x_.data() + out_rows_[static_cast<size_t>(k)] * d, d, xn_.data() + k * d);
    dev_rows_.resize(static_cast<size_t>(n_out));
    for (int64_t k = 0; k < n_out; ++k) dev_rows_[static_cast<size_t>(k)] = k;
    b.n_layers = 0;
    b.x = xn_.data();
    b.n_tokens = n_out;
    b.out_rows = dev_rows_;
  } else {
    dev_segs_.clear();
    for (const Segment& s : segs_) dev_segs_.push_back({s.first, s.n, s.pos0, s.seq->table});
    b.x = x_.data();
    b.n_tokens = n;
    b.segments = dev_segs_;
    b.out_rows = out_rows_;
  }
  TANDEM_TRY(e.run(b));
  return b.logits;
}

void Context::attention_layer(int32_t il) {
  const ModelConfig& c = model_.config();
  cpu::RopeParams rp;
  rp.n_rot = c.n_rot;
  rp.freq_base = c.rope_freq_base;
  rp.freq_scale = c.rope_freq_scale;
  rp.style = c.rope_style;
  rp.freq_factors = model_.rope_freqs().present() ? static_cast<const float*>(model_.rope_freqs().data) : nullptr;
  {
    StepTimer timer(profile_, StepOp::kRopeKv);
    for (const Segment& s : segs_)
      for (int64_t i = 0; i < s.n; ++i) {
        const int64_t t = s.first + i;
        const int32_t pos = s.pos0 + static_cast<int32_t>(i);
        cpu::rope_ref(q_.data() + t * c.q_dim(), c.n_head, c.head_dim, pos, rp);
        cpu::rope_ref(k_.data() + t * c.kv_dim(), c.n_head_kv, c.head_dim, pos, rp);
        kv_.write(il, *s.seq, pos, k_.data() + t * c.kv_dim(), v_.data() + t * c.kv_dim());
      }
  }
  const cpu::PagedKv view = kv_.layer_view(il);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int n_threads = arena_.n_threads();
  // Token i of a segment attends to its sequence's positions [0, pos0 + i] (causal).
  const auto batch_of = [&](const Segment& s) {
    cpu::AttnBatch b;
    b.q = q_.data() + s.first * c.q_dim();
    b.out = attn_.data() + s.first * c.q_dim();
    b.n_tokens = s.n;
    b.n_heads = c.n_head;
    b.kv = view;
    b.block_table = s.seq->table;
    b.n_ctx0 = s.pos0 + 1;
    b.scale = scale;
    return b;
  };
  StepTimer timer(profile_, StepOp::kAttention);
  // No sequence's result may depend on the batch it runs in. attention_decode splits a
  // lone token's long context into ranges (merged afterwards) when its KV heads are
  // fewer than the threads (attention_splits): such segments run alone, as in a batch
  // of one. Every other segment gets attention_decode_one's result per token however
  // the work is cut, so several of them with at least as many tokens as threads share
  // one parallel pass of one task per token (one fork-join per layer, not one per
  // sequence); otherwise each runs attention_decode, whose (token, KV head) tasks keep
  // more threads busy.
  const bool simd = cpu::attention_simd_ok(lane_.isa, c.head_dim, c.n_head / c.n_head_kv);
  pooled_.clear();
  pool_rows_.clear();
  for (size_t i = 0; i < segs_.size(); ++i) {
    const Segment& s = segs_[i];
    if (simd && cpu::attention_splits(s.n, c.n_head_kv, s.pos0 + 1, n_threads) > 1) {
      cpu::attention_decode(lane_, batch_of(s));
      continue;
    }
    pooled_.push_back(i);
    for (int64_t t = s.first; t < s.first + s.n; ++t) pool_rows_.push_back(t);
  }
  const auto n_pooled = static_cast<int64_t>(pool_rows_.size());
  if (pooled_.size() < 2 || n_pooled < n_threads) {
    for (size_t i : pooled_) cpu::attention_decode(lane_, batch_of(segs_[i]));
    return;
  }
  arena_.parallel_for(n_pooled, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = pool_rows_[static_cast<size_t>(i)];
      const Segment& s = segs_[static_cast<size_t>(tok_seg_[static_cast<size_t>(t)])];
      cpu::attention_decode_one(lane_.isa, q_.data() + t * c.q_dim(), c.n_head, view, s.seq->table,
                                s.pos0 + static_cast<int32_t>(t - s.first) + 1, scale,
                                attn_.data() + t * c.q_dim());
    }
  });
}

}  // namespace tandem
