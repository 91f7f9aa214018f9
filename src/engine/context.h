// An inference context over a loaded model: KV cache, sequences, threads and scratch.
// decode_batch() appends tokens to several sequences in one forward pass (each weight
// matrix is read once for all their tokens) and returns their logits; decode() is the
// batch of one sequence.
//
// With DeviceLayers (engine/device_layers.h), layers [0, first_layer) run on the CPU as
// always and the executor runs the rest (and the output head when it holds it): the
// hidden state goes to the device once per forward pass and logits come back. The CPU
// KV cache then holds only the CPU layers' rows; its block tables (one BlockPool) are
// the device's too, and a block copied on write is copied on the device as well.
// Without one, nothing changes: the CPU runs everything.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "cpu/cpu_lane.h"
#include "cpu/thread_arena.h"
#include "engine/device_layers.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/step_profile.h"

namespace tandem {

struct ContextConfig {
  int32_t n_ctx = 0;          // tokens per sequence; 0: min(model's context, 4096)
  int32_t n_seq = 1;          // sequences that can be live at once
  int32_t n_threads = 0;      // 0: all available cores
  int32_t block_tokens = 16;  // KV block size
  DType kv_type = DType::kF16;
};

using SeqId = int32_t;

// One sequence's part of a batch: its new tokens, run at positions n_past(seq)...
struct DecodeEntry {
  SeqId seq = 0;
  std::span<const int32_t> tokens;  // >= 1 token ids
  bool all_logits = false;          // logits of every token; else of the last one only
};

// Logits of a batch, valid until the Context's next decode: entries in order, each
// entry's rows in token order.
struct BatchLogits {
  std::span<const float> logits;        // [n_rows, n_vocab] row-major
  std::span<const int64_t> first_row;   // [n_entries + 1]: entry i has rows [first_row[i], first_row[i + 1])
  int32_t n_vocab = 0;

  int64_t n_rows() const { return first_row.empty() ? 0 : first_row.back(); }
  // Entry i's rows, [rows, n_vocab] row-major.
  std::span<const float> entry(size_t i) const {
    return logits.subspan(static_cast<size_t>(first_row[i] * n_vocab),
                          static_cast<size_t>((first_row[i + 1] - first_row[i]) * n_vocab));
  }
};

class Context {
 public:
  // `device`: layers placed on a device for this model and exactly this configuration
  // (its KV type, block size and block count must be cfg's: kInvalidArgument otherwise);
  // empty (the default): CPU only.
  static Result<std::unique_ptr<Context>> create(const Model& model, const ContextConfig& cfg,
                                                 DeviceLayers device = {});

  const Model& model() const { return model_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_seq() const { return cfg_.n_seq; }
  int32_t n_past(SeqId s) const { return seqs_[static_cast<size_t>(s)].n_tokens; }
  const KvCache& kv() const { return kv_; }
  const cpu::ThreadArena& arena() const { return arena_; }
  // Layers run on the CPU: [0, cpu_layers()); the rest on the device.
  int32_t cpu_layers() const { return n_cpu_layers_; }
  // The device's executor and allocator, or null (CPU only).
  const gpu::GpuExecutor* device() const { return device_.executor.get(); }
  const gpu::Allocator* device_allocator() const { return device_.allocator.get(); }

  // Runs `tokens` at positions n_past(seq)... and returns logits, row-major
  // [n_out, n_vocab]: n_out = tokens.size() when all_logits, else 1 (the last token).
  // kOutOfRange when the sequence would exceed n_ctx (nothing changes then).
  // The same as decode_batch of the one entry {seq, tokens, all_logits}.
  Result<std::span<const float>> decode(std::span<const int32_t> tokens, bool all_logits,
                                        SeqId seq = 0);
  // Runs every entry's tokens in one forward pass: matmuls, norms and the rest over the
  // concatenation of all tokens, RoPE and KV writes at each token's own sequence and
  // position, attention per sequence. Each entry's logits are bit for bit those that
  // decoding it alone would give (every op is per token row or per sequence).
  // Everything is checked first (entries non-empty, sequence ids in range and distinct,
  // tokens non-empty and in the vocabulary, room in each sequence's context); on error
  // nothing changes: kInvalidArgument, or kOutOfRange when a sequence would exceed n_ctx.
  Result<BatchLogits> decode_batch(std::span<const DecodeEntry> entries);
  // Forgets tokens of `seq` from n_keep on (0 clears it).
  void truncate(SeqId seq, int32_t n_keep);
  // Makes `dst` share `src`'s cached tokens (prefix sharing).
  void fork(SeqId src, SeqId dst);
  // Forward passes add their op times to `p` (not owned; null, the default: off).
  void set_profile(StepProfile* p) { profile_ = p; }

 private:
  // One entry's tokens in the concatenated batch: rows [first, first + n), positions
  // pos0... of sequence `seq`.
  struct Segment {
    const SeqKv* seq;
    int64_t first;
    int64_t n;
    int32_t pos0;
  };

  Context(const Model& m, const ContextConfig& cfg, KvCache kv, int32_t n_ctx, cpu::Isa isa, DeviceLayers device);
  Status check_batch(std::span<const DecodeEntry> entries) const;
  // Over tokens_ and segs_; writes the rows out_rows_ lists to logits_. Errors come
  // from the device only.
  Status forward();
  // The device's part of forward(): layers [n_cpu_layers_, n_layer) of x_, then logits
  // into logits_ (true), or the hidden state back into x_ for the CPU's head (false).
  Result<bool> device_forward();
  void attention_layer(int32_t layer);

  const Model& model_;
  ContextConfig cfg_;
  cpu::ThreadArena arena_;
  cpu::CpuLane lane_;  // {kernels' ISA (runtime_isa()), &arena_}
  KvCache kv_;
  int32_t n_ctx_;
  std::vector<SeqKv> seqs_;  // [n_seq]
  DeviceLayers device_;
  int32_t n_cpu_layers_;
  std::vector<KvBlockCopy> copies_;         // made by the batch's reserves, for the device
  std::vector<gpu::BlockCopy> dev_copies_;
  std::vector<gpu::BatchSegment> dev_segs_;  // segs_ as the executor takes them
  std::vector<int64_t> dev_rows_;           // 0 .. n_out - 1 (a head-only device gets the out rows alone)
  StepProfile* profile_ = nullptr;
  // The batch being run: tokens_ [n_tokens] (all entries' tokens, concatenated),
  // segs_ [n_entries], out_rows_ [n_out] (batch rows whose logits are returned, in
  // order), first_out_ [n_entries + 1] (each entry's first logits row).
  // tok_seg_ [n_tokens]: each token's segment.
  std::vector<int32_t> tokens_, tok_seg_;
  std::vector<Segment> segs_;
  std::vector<int64_t> out_rows_, first_out_;
  // attention_layer's: segments that may share one pass, and their tokens' rows.
  std::vector<size_t> pooled_;
  std::vector<int64_t> pool_rows_;
  // Scratch, [n_tokens, width] row-major; grown on demand. logits_: [n_out, n_vocab].
  std::vector<float> x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_, logits_;
};

}  // namespace tandem
