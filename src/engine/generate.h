// The generation loop: prompt prefill, then sample -> decode one token at a time,
// streaming each token to a callback. Shared by `tandem run`, `tandem chat` and the C API.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "core/status.h"
#include "engine/context.h"
#include "engine/sampler.h"

namespace tandem {

class Tokenizer;

struct GenerateOptions {
  int32_t n_predict = 128;      // < 0: until end-of-generation or the context is full
  bool ignore_eos = false;      // keep going past end-of-generation tokens
  int32_t prefill_chunk = 512;  // prompt tokens per forward pass
};

struct GenerateStats {
  int32_t n_prompt = 0;
  int32_t n_generated = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  bool stopped_by_eog = false;
  bool stopped_by_callback = false;
  bool stopped_by_context = false;
};

// Called with each generated token and its raw bytes; return false to stop.
using TokenCallback = std::function<bool(int32_t token, std::string_view piece)>;

// Appends `prompt` to sequence `seq` of `ctx` (its cached tokens are kept: multi-turn
// chat continues a sequence), then generates. `stop` (may be null) is polled before
// each token and stops generation cleanly when set (Ctrl-C).
Result<GenerateStats> generate(Context& ctx, const Tokenizer& tok, Sampler& sampler,
                               std::span<const int32_t> prompt, const GenerateOptions& opt,
                               const TokenCallback& on_token,
                               const std::atomic<bool>* stop = nullptr, SeqId seq = 0);

}  // namespace tandem
