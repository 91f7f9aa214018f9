// Where the planner's view of a model comes from: a GGUF file's header, or the plan of
// a file make-model would write (so an 8B model is planned with no file).
#include <charconv>
#include <string_view>

#include "engine/memory_plan.h"
#include "engine/model_plan.h"
#include "storage/gguf.h"

namespace tandem {
namespace {

// N of "blk.N.<rest>", -1 for anything else.
int32_t layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return -1;
  name.remove_prefix(kPrefix.size());
  int32_t n = -1;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
  if (ec != std::errc() || end == name.data() + name.size() || *end != '.' || n < 0) return -1;
  return n;
}

}  // namespace

Result<PlanModel> plan_model_of(const gguf::File& f) {
  PlanModel m;
  TANDEM_ASSIGN_OR_RETURN(m.config, read_model_config(f));
  m.tied_output = f.find_tensor("output.weight") == nullptr;
  // The vocabulary's size is token_embd's rows (as Model::load finds it): the metadata
  // need not say it, and the logits buffer is sized from it.
  if (const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight"); emb != nullptr && emb->dims.size() == 2)
    m.config.n_vocab = static_cast<int32_t>(emb->dims[1]);
  for (const gguf::TensorInfo& t : f.tensors()) m.tensors.push_back(PlanTensor{t.name, t.type, t.nbytes, layer_of(t.name)});
  return m;
}

PlanModel plan_model_of(const ModelPlan& p) {
  PlanModel m;
  const ModelShape& s = p.shape;
  ModelConfig& c = m.config;
  c.arch = s.arch;
  c.name = s.preset;
  c.n_vocab = s.n_vocab;
  c.n_ctx_train = s.n_ctx;
  c.n_embd = s.n_embd;
  c.n_layer = s.n_layer;
  c.n_ff = s.n_ff;
  c.n_head = s.n_head;
  c.n_head_kv = s.n_head_kv;
  c.head_dim = s.head_dim();
  c.n_rot = s.head_dim();
  c.rms_eps = s.rms_eps;
  c.rope_freq_base = s.rope_base;
  c.has_qkv_bias = s.qkv_bias;
  m.tied_output = s.tied;
  for (const PlannedTensor& t : p.tensors) m.tensors.push_back(PlanTensor{t.name, t.type, t.nbytes(), layer_of(t.name)});
  return m;
}

}  // namespace tandem
