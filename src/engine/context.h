// An inference context over a loaded model: KV cache, sequences, threads and scratch.
// decode() appends tokens to a sequence and returns their logits.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "cpu/cpu_lane.h"
#include "cpu/thread_arena.h"
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

class Context {
 public:
  static Result<std::unique_ptr<Context>> create(const Model& model, const ContextConfig& cfg);

  const Model& model() const { return model_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_past(SeqId s) const { return seqs_[static_cast<size_t>(s)].n_tokens; }
  const KvCache& kv() const { return kv_; }
  const cpu::ThreadArena& arena() const { return arena_; }

  // Runs `tokens` at positions n_past(seq)... and returns logits, row-major
  // [n_out, n_vocab]: n_out = tokens.size() when all_logits, else 1 (the last token).
  // kOutOfRange when the sequence would exceed n_ctx (nothing changes then).
  Result<std::span<const float>> decode(std::span<const int32_t> tokens, bool all_logits,
                                        SeqId seq = 0);
  // Forgets tokens of `seq` from n_keep on (0 clears it).
  void truncate(SeqId seq, int32_t n_keep);
  // Makes `dst` share `src`'s cached tokens (prefix sharing).
  void fork(SeqId src, SeqId dst);
  // Forward passes add their op times to `p` (not owned; null, the default: off).
  void set_profile(StepProfile* p) { profile_ = p; }

 private:
  Context(const Model& m, const ContextConfig& cfg, KvCache kv, int32_t n_ctx, cpu::Isa isa);
  void forward(std::span<const int32_t> tokens, SeqKv& seq, int32_t pos0, bool all_logits);
  void attention_layer(int32_t layer, const SeqKv& seq, int32_t pos0, int64_t n_tokens);

  const Model& model_;
  ContextConfig cfg_;
  cpu::ThreadArena arena_;
  cpu::CpuLane lane_;  // {kernels' ISA (runtime_isa()), &arena_}
  KvCache kv_;
  int32_t n_ctx_;
  std::vector<SeqKv> seqs_;  // [n_seq]
  StepProfile* profile_ = nullptr;
  // Scratch, [n_tokens, width] row-major; grown on demand.
  std::vector<float> x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_, logits_;
};

}  // namespace tandem
