#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "engine/tokenizer.h"

namespace tandem {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<GenerateStats> generate(Context& ctx, const Tokenizer& tok, Sampler& sampler,
                               std::span<const int32_t> prompt, const GenerateOptions& opt,
                               const TokenCallback& on_token, const std::atomic<bool>* stop,
                               SeqId seq) {
  GenerateStats st;
  st.n_prompt = static_cast<int32_t>(prompt.size());
  if (prompt.empty()) return Error(Code::kInvalidArgument) << "empty prompt (not even BOS)";
  if (ctx.n_past(seq) + static_cast<int64_t>(prompt.size()) > ctx.n_ctx())
    return Error(Code::kOutOfRange) << "prompt of " << prompt.size() << " tokens does not fit the context of "
                                    << ctx.n_ctx() << " (" << ctx.n_past(seq) << " already used)";
  for (int32_t t : prompt) sampler.accept(t);

  auto t0 = std::chrono::steady_clock::now();
  std::span<const float> logits;
  const size_t chunk = static_cast<size_t>(std::max(1, opt.prefill_chunk));
  for (size_t i = 0; i < prompt.size(); i += chunk) {
    const size_t n = std::min(chunk, prompt.size() - i);
    TANDEM_ASSIGN_OR_RETURN(logits, ctx.decode(prompt.subspan(i, n), false, seq));
  }
  st.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  while (opt.n_predict < 0 || st.n_generated < opt.n_predict) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      st.stopped_by_callback = true;
      break;
    }
    const int32_t token = sampler.sample(logits);
    sampler.accept(token);
    ++st.n_generated;
    if (!opt.ignore_eos && tok.is_eog(token)) {
      st.stopped_by_eog = true;
      break;
    }
    if (!on_token(token, tok.token_to_piece(token, /*render_special=*/false))) {
      st.stopped_by_callback = true;
      break;
    }
    if (opt.n_predict >= 0 && st.n_generated >= opt.n_predict) break;
    if (ctx.n_past(seq) >= ctx.n_ctx()) {
      st.stopped_by_context = true;
      break;
    }
    const int32_t one[1] = {token};
    TANDEM_ASSIGN_OR_RETURN(logits, ctx.decode(one, false, seq));
  }
  st.decode_seconds = seconds_since(t0);
  return st;
}

}  // namespace tandem
