// C API: loading a model and asking it about itself.
#include <string>

#include "api/api_internal.h"
#include "engine/runtime.h"

namespace tandem::api {
namespace {

// The model and its vocabulary, checked against each other (as open_runtime does, but
// without a context: the C API makes those separately), and the GPU `r` asks for.
Result<std::shared_ptr<const LoadedModel>> load_model(const std::string& path, const DeviceRequest& r) {
  auto m = std::make_shared<LoadedModel>();
  ModelLoadOptions lo;
  if (!(r.gpu_layers && *r.gpu_layers == 0)) {
    m->gpu = std::make_unique<ModelGpu>();
    m->gpu->request = r;
    m->gpu->found = find_gpu(r);
    if (r.layers_required() && m->gpu->found.backend() == nullptr)
      return Error(Code::kUnsupported) << "tandem_model_load: params.n_gpu_layers is " << *r.gpu_layers
                                       << ", but there is no GPU: no CUDA device (" << m->gpu->found.missing << ")";
    TANDEM_ASSIGN_OR_RETURN(lo, device_load_options(path, r, m->gpu->found));
  }
  TANDEM_ASSIGN_OR_RETURN(m->model, Model::load(path, lo));
  TANDEM_ASSIGN_OR_RETURN(m->tokenizer, load_tokenizer(m->model->file()));
  if (m->tokenizer->n_vocab() != m->model->config().n_vocab)
    return Error(Code::kBadGguf) << path << ": the tokenizer has " << m->tokenizer->n_vocab()
                                 << " tokens but token_embd.weight has " << m->model->config().n_vocab
                                 << " rows";
  return std::shared_ptr<const LoadedModel>(std::move(m));
}

const LoadedModel* loaded(const tandem_model* model) {
  return model != nullptr ? model->loaded.get() : nullptr;
}

}  // namespace
}  // namespace tandem::api

using tandem::api::fail;
using tandem::api::guarded;
using tandem::api::loaded;
using tandem::api::ok;

extern "C" {

tandem_model_params tandem_model_default_params(void) {
  tandem_model_params p;
  p.n_gpu_layers = TANDEM_GPU_LAYERS_AUTO;
  p.gpu_device = 0;
  p.gpu_mem = 0;
  p.gpu = TANDEM_GPU_CUDA;
  p.gpu_emulate_refusal = nullptr;
  return p;
}

tandem_status tandem_model_load(const char* path, const tandem_model_params* params,
                                tandem_model** out) {
  return guarded([&]() -> tandem_status {
    if (out == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_model_load: out is NULL");
    *out = nullptr;
    if (path == nullptr) return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_model_load: path is NULL");
    const tandem_model_params p = params != nullptr ? *params : tandem_model_default_params();
    auto request = tandem::api::device_request(p);
    if (!request)
      return fail(TANDEM_ERR_INVALID_ARGUMENT, "tandem_model_load: " + request.error().message() +
                                                   " (start from tandem_model_default_params())");
    auto m = tandem::api::load_model(path, *request);
    if (!m) return fail(m.error());
    *out = new tandem_model{std::move(*m)};
    return ok();
  });
}

void tandem_model_free(tandem_model* model) { delete model; }

int32_t tandem_model_n_vocab(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->config().n_vocab : -1;
}

int32_t tandem_model_n_ctx_train(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->config().n_ctx_train : -1;
}

int32_t tandem_model_n_embd(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->config().n_embd : -1;
}

int32_t tandem_model_n_layer(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->config().n_layer : -1;
}

uint64_t tandem_model_weight_bytes(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->weight_bytes() : 0;
}

const char* tandem_model_arch(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? tandem::arch_name(m->model->config().arch) : "";
}

const char* tandem_model_name(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->model->config().name.c_str() : "";
}

tandem_token tandem_model_bos(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->tokenizer->bos() : -1;
}

tandem_token tandem_model_eos(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->tokenizer->eos() : -1;
}

tandem_token tandem_model_eot(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr ? m->tokenizer->eot() : -1;
}

int tandem_model_add_bos(const tandem_model* model) {
  const auto* m = loaded(model);
  return m != nullptr && m->tokenizer->add_bos_default() ? 1 : 0;
}

int tandem_token_is_eog(const tandem_model* model, tandem_token token) {
  const auto* m = loaded(model);
  return m != nullptr && tandem::api::token_in_vocab(*m, token) && m->tokenizer->is_eog(token) ? 1 : 0;
}

}  // extern "C"
