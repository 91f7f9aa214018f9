#include "engine/runtime.h"

#include "engine/device_layers.h"
#include "engine/device_setup.h"
#include "engine/vocab.h"

namespace tandem {

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const gguf::File& f) {
  TANDEM_ASSIGN_OR_RETURN(Vocab v, load_vocab(f));
  TANDEM_ASSIGN_OR_RETURN(Tokenizer t, Tokenizer::create(std::move(v)));
  return std::make_unique<Tokenizer>(std::move(t));
}

namespace {

ModelLoadOptions load_options(const RuntimeDevice& device, bool on_device) {
  ModelLoadOptions lo;
  if (on_device) {
    lo.cpu_layers = device.plan->first_gpu_layer();
    lo.cpu_head = !device.plan->output_on_gpu;
  }
  return lo;
}

}  // namespace

Result<Runtime> open_runtime(const std::string& model_path, const ContextConfig& cfg, const RuntimeDevice& device) {
  const bool on_device = device.backend != nullptr && device.plan != nullptr && !device.plan->items.empty();
  Runtime rt;
  TANDEM_ASSIGN_OR_RETURN(rt.model, Model::load(model_path, load_options(device, on_device)));
  TANDEM_ASSIGN_OR_RETURN(rt.tokenizer, load_tokenizer(rt.model->file()));
  if (rt.tokenizer->n_vocab() != rt.model->config().n_vocab)
    return Error(Code::kBadGguf) << model_path << ": the tokenizer has " << rt.tokenizer->n_vocab()
                                 << " tokens but token_embd.weight has " << rt.model->config().n_vocab << " rows";
  TANDEM_ASSIGN_OR_RETURN(DevicePlacement placed, place_or_fall_back(device, *rt.model));
  if (!placed.refusal.empty()) {
    // The device's layers were left unpacked: load again with every layer for the CPU.
    rt.device_refusal = std::move(placed.refusal);
    rt.model.reset();
    TANDEM_ASSIGN_OR_RETURN(rt.model, Model::load(model_path, ModelLoadOptions{}));
  }
  TANDEM_ASSIGN_OR_RETURN(rt.context, Context::create(*rt.model, cfg, std::move(placed.layers)));
  return rt;
}

}  // namespace tandem
