// C API: sampling parameters and a sampler handle for callers that drive tandem_eval.
#include <span>
#include <string>

#include "api/api_internal.h"

namespace tandem::api {

SamplerConfig sampler_config(const tandem_sampler_params& p) {
  SamplerConfig c;
  c.temperature = p.temperature;
  c.top_k = p.top_k;
  c.top_p = p.top_p;
  c.min_p = p.min_p;
  c.repeat_penalty = p.repeat_penalty;
  c.repeat_last_n = p.repeat_last_n;
  c.presence_penalty = p.presence_penalty;
  c.frequency_penalty = p.frequency_penalty;
  c.seed = p.seed;
  return c;
}

}  // namespace tandem::api

using tandem::api::fail;
using tandem::api::guarded;
using tandem::api::ok;

extern "C" {

tandem_sampler_params tandem_sampler_default_params(void) {
  const tandem::SamplerConfig c;  // the engine's defaults are the API's
  tandem_sampler_params p;
  p.temperature = c.temperature;
  p.top_k = c.top_k;
  p.top_p = c.top_p;
  p.min_p = c.min_p;
  p.repeat_penalty = c.repeat_penalty;
  p.repeat_last_n = c.repeat_last_n;
  p.presence_penalty = c.presence_penalty;
  p.frequency_penalty = c.frequency_penalty;
  p.seed = c.seed;
  return p;
}

tandem_status tandem_sampler_create(const tandem_model* model, const tandem_sampler_params* params,
                                    tandem_sampler** out) {
  return guarded([&]() -> tandem_status {
    if (out == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_sampler_create: out is NULL");
    *out = nullptr;
    if (model == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_sampler_create: model is NULL");
    const tandem_sampler_params p = params != nullptr ? *params : tandem_sampler_default_params();
    auto s = tandem::Sampler::create(tandem::api::sampler_config(p), model->loaded->tokenizer->n_vocab());
    if (!s) return fail(s.error());
    *out = new tandem_sampler{std::move(*s)};
    return ok();
  });
}

void tandem_sampler_free(tandem_sampler* sampler) { delete sampler; }

tandem_status tandem_sampler_sample(tandem_sampler* sampler, const float* logits, tandem_token* token) {
  return guarded([&]() -> tandem_status {
    if (sampler == nullptr || logits == nullptr || token == nullptr)
      return fail(TANDEM_ERR_INVALID_ARGUMENT, std::string("tandem_sampler_sample: ") +
                                                   (sampler == nullptr  ? "sampler"
                                                    : logits == nullptr ? "logits"
                                                                        : "token") +
                                                   " is NULL");
    const auto n = static_cast<size_t>(sampler->sampler.n_vocab());
    *token = sampler->sampler.sample(std::span<const float>(logits, n));
    return ok();
  });
}

tandem_status tandem_sampler_accept(tandem_sampler* sampler, tandem_token token) {
  return guarded([&]() -> tandem_status {
    if (sampler == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_sampler_accept: sampler is NULL");
    const int32_t n_vocab = sampler->sampler.n_vocab();
    if (token < 0 || token >= n_vocab)
      return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_sampler_accept: token " + std::to_string(token) +
                                                   " is outside the vocabulary [0, " +
                                                   std::to_string(n_vocab) + ")");
    sampler->sampler.accept(token);
    return ok();
  });
}

tandem_status tandem_sampler_reset(tandem_sampler* sampler) {
  return guarded([&]() -> tandem_status {
    if (sampler == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_sampler_reset: sampler is NULL");
    sampler->sampler.reset();
    return ok();
  });
}

}  // extern "C"
