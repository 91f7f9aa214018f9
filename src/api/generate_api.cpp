// C API: tandem_generate, the engine's generation loop behind a C callback and stop flag.
#include <span>
#include <string>
#include <string_view>

#include "api/api_internal.h"
#include "engine/generate.h"

namespace tandem::api {
namespace {

// The caller's flag may be written by another thread or a signal handler: read it with an
// atomic load (an int is lock-free on every target we build for).
bool flag_set(const volatile int* stop_flag) {
  return stop_flag != nullptr && __atomic_load_n(stop_flag, __ATOMIC_ACQUIRE) != 0;
}

tandem_status check_prompt(const tandem_context& c, const tandem_token* prompt, size_t n_prompt) {
  if (prompt == nullptr || n_prompt == 0)
    return fail(TANDEM_ERR_INVALID_ARGUMENT,
                "tandem_generate: empty prompt (prompt is NULL or n_prompt is 0; give at least BOS)");
  for (size_t i = 0; i < n_prompt; ++i)
    if (!token_in_vocab(*c.loaded, prompt[i]))
      return fail(TANDEM_ERR_INVALID_ARGUMENT,
                  "tandem_generate: prompt[" + std::to_string(i) + "] = " + std::to_string(prompt[i]) +
                      " is outside the vocabulary [0, " + std::to_string(c.loaded->tokenizer->n_vocab()) + ")");
  const int64_t n_past = c.ctx->n_past(0);
  if (n_past + static_cast<int64_t>(n_prompt) > c.ctx->n_ctx())
    return fail(TANDEM_ERR_OUT_OF_RANGE, "tandem_generate: a prompt of " + std::to_string(n_prompt) +
                                             " tokens does not fit the context of " +
                                             std::to_string(c.ctx->n_ctx()) + " tokens (" +
                                             std::to_string(n_past) + " already used)");
  return TANDEM_OK;
}

tandem_stop_reason stop_reason(const GenerateStats& st, bool by_callback, bool by_flag) {
  if (st.stopped_by_eog) return TANDEM_STOP_EOG;
  if (by_callback) return TANDEM_STOP_CALLBACK;
  if (by_flag) return TANDEM_STOP_FLAG;
  if (st.stopped_by_context) return TANDEM_STOP_CONTEXT_FULL;
  return TANDEM_STOP_N_PREDICT;
}

}  // namespace
}  // namespace tandem::api

using tandem::api::fail;
using tandem::api::guarded;
using tandem::api::ok;

extern "C" {

tandem_status tandem_generate(tandem_context* ctx, const tandem_token* prompt, size_t n_prompt,
                              int32_t n_predict, const tandem_sampler_params* sampling,
                              tandem_token_callback callback, void* user_data,
                              const volatile int* stop_flag, tandem_generate_stats* out_stats) {
  return guarded([&]() -> tandem_status {
    if (out_stats != nullptr) *out_stats = tandem_generate_stats{};
    if (ctx == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_generate: ctx is NULL");
    if (tandem_status s = tandem::api::check_prompt(*ctx, prompt, n_prompt); s != TANDEM_OK) return s;
    const tandem_sampler_params sp = sampling != nullptr ? *sampling : tandem_sampler_default_params();
    auto sampler = tandem::Sampler::create(tandem::api::sampler_config(sp), ctx->loaded->tokenizer->n_vocab());
    if (!sampler) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_generate: " + sampler.error().message());
    if (tandem::api::flag_set(stop_flag)) {
      if (out_stats != nullptr) out_stats->stop_reason = TANDEM_STOP_FLAG;
      return ok();
    }

    bool by_callback = false;
    bool by_flag = false;
    const tandem::TokenCallback on_token = [&](int32_t token, std::string_view piece) {
      if (callback != nullptr && callback(token, piece.data(), piece.size(), user_data) != 0) {
        by_callback = true;
        return false;
      }
      by_flag = tandem::api::flag_set(stop_flag);
      return !by_flag;
    };
    tandem::GenerateOptions opt;
    opt.n_predict = n_predict;
    opt.prefill_chunk = ctx->n_batch;
    auto st = tandem::generate(*ctx->ctx, *ctx->loaded->tokenizer, *sampler,
                               std::span<const int32_t>(prompt, n_prompt), opt, on_token,
                               /*stop=*/nullptr, /*seq=*/0);
    if (!st) return fail(st.error());
    if (out_stats != nullptr) {
      out_stats->n_prompt = st->n_prompt;
      out_stats->n_generated = st->n_generated;
      out_stats->prefill_seconds = st->prefill_seconds;
      out_stats->decode_seconds = st->decode_seconds;
      out_stats->stop_reason = tandem::api::stop_reason(*st, by_callback, by_flag);
    }
    return ok();
  });
}

}  // extern "C"
