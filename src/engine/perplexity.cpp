#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tandem {

Result<PerplexityResult> perplexity(Context& ctx, std::span<const int32_t> tokens, int32_t n_ctx,
                                    int32_t bos,
                                    const std::function<void(int32_t, double)>& on_chunk) {
  if (n_ctx < 4) return Error(Code::kInvalidArgument) << "perplexity context " << n_ctx << " is below 4";
  if (n_ctx > ctx.n_ctx())
    return Error(Code::kInvalidArgument) << "perplexity context " << n_ctx << " exceeds the context " << ctx.n_ctx();
  const int64_t n_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
  if (n_chunks == 0)
    return Error(Code::kInvalidArgument) << "the text has " << tokens.size()
                                         << " tokens, fewer than one chunk of " << n_ctx;
  const int32_t n_vocab = ctx.model().config().n_vocab;
  const int32_t first = n_ctx / 2;
  PerplexityResult r;
  double nll_sum = 0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (bos >= 0) chunk[0] = bos;
    ctx.truncate(0, 0);
    TANDEM_ASSIGN_OR_RETURN(std::span<const float> logits, ctx.decode(chunk, /*all_logits=*/true, 0));
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      const float* row = logits.data() + static_cast<size_t>(j) * n_vocab;
      const float mx = *std::max_element(row, row + n_vocab);
      double sum = 0;
      for (int32_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
      const int32_t target = tokens[static_cast<size_t>(c * n_ctx + j + 1)];
      nll_sum += -(static_cast<double>(row[target]) - mx - std::log(sum));
      ++r.n_scored;
    }
    ++r.n_chunks;
    if (on_chunk) on_chunk(r.n_chunks, std::exp(nll_sum / static_cast<double>(r.n_scored)));
  }
  ctx.truncate(0, 0);
  r.nll = nll_sum / static_cast<double>(r.n_scored);
  r.ppl = std::exp(r.nll);
  return r;
}

}  // namespace tandem
