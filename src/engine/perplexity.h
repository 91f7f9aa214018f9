// Perplexity by llama.cpp's method: the text tokenized once, cut into chunks of n_ctx
// tokens, the first token of each chunk replaced by BOS where the model adds one, and
// in each chunk the tokens at positions n_ctx/2+1 .. n_ctx-1 scored from the logits of
// the position before.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "core/status.h"
#include "engine/context.h"

namespace tandem {

struct PerplexityResult {
  double ppl = 0;
  double nll = 0;        // mean negative log-likelihood
  int64_t n_scored = 0;
  int32_t n_chunks = 0;
};

// `bos` < 0 when the model adds none. `on_chunk(i, ppl_so_far)` reports progress.
Result<PerplexityResult> perplexity(Context& ctx, std::span<const int32_t> tokens, int32_t n_ctx,
                                    int32_t bos,
                                    const std::function<void(int32_t, double)>& on_chunk);

}  // namespace tandem
