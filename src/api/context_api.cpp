// C API: contexts (KV cache and scratch of one sequence) and raw evaluation.
#include <span>
#include <string>

#include "api/api_internal.h"

namespace tandem::api {
namespace {

Result<DType> kv_dtype(const tandem_kv_type& t) {
  switch (raw_value(t)) {
    case TANDEM_KV_F16: return DType::kF16;
    case TANDEM_KV_F32: return DType::kF32;
    case TANDEM_KV_BF16: return DType::kBF16;
    case TANDEM_KV_Q8_0: return DType::kQ8_0;
  }
  return Error(Code::kInvalidArgument) << "kv_type " << raw_value(t) << " is not a tandem_kv_type";
}

Result<ContextConfig> context_config(const tandem_context_params& p) {
  if (p.n_ctx < 0) return Error(Code::kInvalidArgument) << "n_ctx is " << p.n_ctx << ", must be >= 0";
  if (p.n_threads < 0)
    return Error(Code::kInvalidArgument) << "n_threads is " << p.n_threads << ", must be >= 0";
  if (p.n_batch <= 0) return Error(Code::kInvalidArgument) << "n_batch is " << p.n_batch << ", must be > 0";
  ContextConfig c;
  c.n_ctx = p.n_ctx;
  c.n_seq = 1;
  c.n_threads = p.n_threads;
  TANDEM_ASSIGN_OR_RETURN(c.kv_type, kv_dtype(p.kv_type));
  return c;
}

tandem_status null_context(const char* fn) {
  return fail(TANDEM_ERR_INVALID_ARGUMENT, std::string(fn) + ": ctx is NULL");
}

}  // namespace
}  // namespace tandem::api

using tandem::api::fail;
using tandem::api::guarded;
using tandem::api::null_context;
using tandem::api::ok;

extern "C" {

tandem_context_params tandem_context_default_params(void) {
  tandem_context_params p;
  p.n_ctx = 0;
  p.n_threads = 0;
  p.n_batch = 512;
  p.kv_type = TANDEM_KV_F16;
  return p;
}

tandem_status tandem_context_create(tandem_model* model, const tandem_context_params* params,
                                    tandem_context** out) {
  return guarded([&]() -> tandem_status {
    if (out == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_context_create: out is NULL");
    *out = nullptr;
    if (model == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_context_create: model is NULL");
    const tandem_context_params p = params != nullptr ? *params : tandem_context_default_params();
    auto cfg = tandem::api::context_config(p);
    if (!cfg) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_context_create: " + cfg.error().message());
    const tandem::api::LoadedModel& m = *model->loaded;
    auto device = tandem::api::place_for_context(m, *cfg);
    if (!device)
      return fail(tandem::Error(device.error().code()) << "tandem_context_create: " << device.error().message());
    tandem::api::ContextGpu gpu = tandem::api::context_gpu(m, *device);
    auto ctx = tandem::Context::create(*m.model, *cfg, std::move(device->layers));
    if (!ctx) return fail(ctx.error());
    *out = new tandem_context{model->loaded, std::move(*ctx), p.n_batch, std::move(gpu)};
    return ok();
  });
}

void tandem_context_free(tandem_context* ctx) { delete ctx; }

tandem_status tandem_context_reset(tandem_context* ctx) {
  return guarded([&]() -> tandem_status {
    if (ctx == nullptr) return null_context("tandem_context_reset");
    ctx->ctx->truncate(0, 0);
    return ok();
  });
}

tandem_status tandem_context_truncate(tandem_context* ctx, int32_t n_keep) {
  return guarded([&]() -> tandem_status {
    if (ctx == nullptr) return null_context("tandem_context_truncate");
    const int32_t n_past = ctx->ctx->n_past(0);
    if (n_keep < 0 || n_keep > n_past)
      return fail(TANDEM_ERR_OUT_OF_RANGE, "tandem_context_truncate: n_keep " + std::to_string(n_keep) +
                                               " is outside [0, n_past = " + std::to_string(n_past) + "]");
    ctx->ctx->truncate(0, n_keep);
    return ok();
  });
}

int32_t tandem_context_n_ctx(const tandem_context* ctx) { return ctx != nullptr ? ctx->ctx->n_ctx() : -1; }

int32_t tandem_context_n_past(const tandem_context* ctx) {
  return ctx != nullptr ? ctx->ctx->n_past(0) : -1;
}

tandem_status tandem_eval(tandem_context* ctx, const tandem_token* tokens, size_t n_tokens, int all_logits,
                          const float** logits) {
  return guarded([&]() -> tandem_status {
    if (logits != nullptr) *logits = nullptr;
    if (ctx == nullptr) return null_context("tandem_eval");
    if (logits == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_eval: logits is NULL");
    if (tokens == nullptr || n_tokens == 0)
      return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_eval: no tokens (tokens is NULL or n_tokens is 0)");
    // Context::decode checks ids and room (leaving the context unchanged on error).
    auto out = ctx->ctx->decode(std::span<const int32_t>(tokens, n_tokens), all_logits != 0, 0);
    if (!out) return fail(out.error());
    *logits = out->data();
    return ok();
  });
}

}  // extern "C"
