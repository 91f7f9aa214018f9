#include "engine/device_layers.h"

#include <map>
#include <string>
#include <string_view>

namespace tandem {
namespace {

Error plan_mismatch() { return Error(Code::kInternal) << "memory plan and executor: "; }

// Where a layer tensor goes, by its name after "blk.N.".
gpu::WeightUpload* layer_field(gpu::LayerDesc& l, std::string_view suffix) {
  const std::pair<std::string_view, gpu::WeightUpload*> fields[] = {
      {"attn_norm.weight", &l.attn_norm}, {"attn_q.weight", &l.wq},     {"attn_k.weight", &l.wk},
      {"attn_v.weight", &l.wv},           {"attn_q.bias", &l.bq},       {"attn_k.bias", &l.bk},
      {"attn_v.bias", &l.bv},             {"attn_output.weight", &l.wo}, {"ffn_norm.weight", &l.ffn_norm},
      {"ffn_gate.weight", &l.w_gate},     {"ffn_up.weight", &l.w_up},   {"ffn_down.weight", &l.w_down}};
  for (const auto& [name, f] : fields)
    if (name == suffix) return f;
  return nullptr;
}

// Every tensor of the model by name (a tied output is found as token_embd.weight).
std::map<std::string, const WeightView*, std::less<>> tensors_by_name(const Model& m) {
  std::map<std::string, const WeightView*, std::less<>> by;
  for (const WeightView* w : {&m.token_embd(), &m.output_norm(), &m.output(), &m.rope_freqs()})
    if (w->present()) by.emplace(w->name, w);
  for (const LayerWeights& l : m.layers())
    for (const WeightView* w : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                &l.w_gate, &l.w_up, &l.w_down})
      if (w->present()) by.emplace(w->name, w);
  return by;
}

// The part's name up to the first space: "x [batch, n_embd]" -> "x".
std::string_view first_word(std::string_view s) { return s.substr(0, s.find(' ')); }

gpu::ExecModel exec_model(const ModelConfig& c) {
  gpu::ExecModel e;
  e.n_layer = c.n_layer;
  e.n_embd = c.n_embd;
  e.n_ff = c.n_ff;
  e.n_head = c.n_head;
  e.n_head_kv = c.n_head_kv;
  e.head_dim = c.head_dim;
  e.n_vocab = c.n_vocab;
  e.n_rot = c.n_rot;
  e.rms_eps = c.rms_eps;
  e.rope_freq_base = c.rope_freq_base;
  e.rope_freq_scale = c.rope_freq_scale;
  e.rope = c.rope_style == cpu::RopeStyle::kNeox ? gpu::RopeKind::kNeox : gpu::RopeKind::kNormal;
  return e;
}

// Puts the plan's weight part `part` (of allocation `slot.alloc`) where it belongs.
Status place_weight(gpu::ExecutorDesc& d, const PlanItem& item, const PlanPart& part, const gpu::DeviceSlot& slot,
                    const std::map<std::string, const WeightView*, std::less<>>& by_name) {
  const auto it = by_name.find(part.name);
  if (it == by_name.end()) return plan_mismatch() << "the model has no tensor '" << part.name << "'";
  const WeightView& w = *it->second;
  const uint64_t bytes = *row_bytes(w.type, static_cast<uint64_t>(w.cols)) * static_cast<uint64_t>(w.rows);
  if (bytes != part.bytes || w.type != part.type)
    return plan_mismatch() << part.name << " is " << bytes << " bytes of " << dtype_name(w.type) << ", the plan says "
                           << part.bytes << " of " << dtype_name(part.type);
  gpu::WeightUpload* dst = nullptr;
  if (item.layer >= 0) {
    const std::string prefix = "blk." + std::to_string(item.layer) + ".";
    const int32_t i = item.layer - d.first_layer;
    if (part.name.rfind(prefix, 0) == 0 && i >= 0 && i < static_cast<int32_t>(d.layers.size()))
      dst = layer_field(d.layers[static_cast<size_t>(i)], std::string_view(part.name).substr(prefix.size()));
  } else if (part.name == "output_norm.weight") {
    dst = &d.output_norm;
  } else if (part.name == "output.weight" || part.name == "token_embd.weight") {
    dst = &d.output;
  } else if (part.name == "rope_freqs.weight") {
    dst = &d.rope_freqs;
  }
  if (dst == nullptr || dst->present())
    return plan_mismatch() << "'" << part.name << "' of '" << item.name << "' has no place on the device";
  *dst = gpu::WeightUpload{w.data, w.type, w.cols, w.rows, slot};
  return Status::ok();
}

Status place_buffer(gpu::ExecutorDesc& d, const PlanItem& item, const PlanPart& part, const gpu::DeviceSlot& slot) {
  const std::string_view word = first_word(part.name);
  gpu::DeviceSlot* dst = nullptr;
  gpu::ActivationSlots& a = d.act;
  switch (item.kind) {
    case PlanKind::kKvCache: {
      const int32_t i = item.layer - d.first_layer;
      if (i < 0 || i >= static_cast<int32_t>(d.layers.size())) break;
      gpu::LayerDesc& l = d.layers[static_cast<size_t>(i)];
      dst = word == "K" ? &l.k_pool : word == "V" ? &l.v_pool : nullptr;
      break;
    }
    case PlanKind::kActivations: {
      const std::pair<std::string_view, gpu::DeviceSlot*> slots[] = {
          {"positions", &a.positions}, {"table_start", &a.table_start}, {"n_ctx", &a.n_ctx},
          {"segments", &a.segments},   {"block_tables", &a.block_tables}, {"x", &a.x},
          {"x_norm", &a.x_norm},       {"q", &a.q},                     {"k", &a.k},
          {"v", &a.v},                 {"attn_out", &a.attn_out},       {"ffn_gate", &a.ffn_gate},
          {"ffn_up", &a.ffn_up},       {"proj_out", &a.proj_out},       {"logits", &a.logits}};
      for (const auto& [name, s] : slots)
        if (name == word) dst = s;
      break;
    }
    case PlanKind::kWorkspace:
      dst = word == "weights" ? &d.workspace_weights : word == "input" ? &d.workspace_input : nullptr;
      break;
    case PlanKind::kCublas: dst = &d.cublas_workspace; break;
    case PlanKind::kAttentionScratch: dst = &d.attention_scratch; break;
    case PlanKind::kGraphs: dst = &d.graph_reserve; break;
    case PlanKind::kWeights: break;
  }
  if (dst == nullptr || dst->present())
    return plan_mismatch() << "'" << part.name << "' of '" << item.name << "' has no place on the device";
  *dst = slot;
  return Status::ok();
}

}  // namespace

Result<gpu::ExecutorDesc> executor_desc(const MemoryPlan& p, const Model& m) {
  const ModelConfig& c = m.config();
  if (p.n_layer != c.n_layer)
    return plan_mismatch() << "the plan is for " << p.n_layer << " layers, the model has " << c.n_layer;
  gpu::ExecutorDesc d;
  d.model = exec_model(c);
  d.first_layer = p.first_gpu_layer();
  d.has_head = p.output_on_gpu;
  for (int32_t l = d.first_layer; l < c.n_layer; ++l) {
    d.layers.emplace_back();
    d.layers.back().layer = l;
  }
  const MemoryPlanConfig& pc = p.config;
  // As Context sizes its pool (and the plan its KV items): one spare block per sequence.
  const int64_t blocks = ((int64_t{pc.n_ctx} + pc.block_tokens - 1) / pc.block_tokens + 1) * pc.n_seq;
  d.kv = gpu::KvDesc{pc.kv_type, static_cast<int32_t>(blocks), pc.block_tokens};
  d.act.max_batch = pc.max_batch;
  d.act.max_seqs = pc.n_seq;  // a batch runs each sequence at most once
  d.act.blocks_per_seq = (pc.n_ctx + pc.block_tokens - 1) / pc.block_tokens;

  const auto by_name = tensors_by_name(m);
  for (size_t i = 0; i < p.items.size(); ++i) {
    const PlanItem& item = p.items[i];
    d.allocations.push_back(gpu::AllocationDesc{item.name, item.bytes});
    for (const PlanPart& part : item.parts) {
      const gpu::DeviceSlot slot{static_cast<int32_t>(i), part.offset, part.bytes};
      if (item.kind == PlanKind::kWeights) {
        TANDEM_TRY(place_weight(d, item, part, slot, by_name));
      } else {
        TANDEM_TRY(place_buffer(d, item, part, slot));
      }
    }
  }
  // The logits buffer's rows, from its size (the plan decides them: all_logits, n_seq).
  const uint64_t row = static_cast<uint64_t>(c.n_vocab) * 4;
  d.act.logit_rows = d.act.logits.present() ? static_cast<int32_t>(d.act.logits.bytes / row) : 0;
  if (Status st = gpu::check_executor_desc(d); !st.is_ok())
    return Error(Code::kInternal) << "the executor description made from the plan is wrong: " << st.error().message();
  return d;
}

Result<DeviceLayers> place_on_device(gpu::GpuBackend& backend, const MemoryPlan& p, const Model& m) {
  if (p.items.empty()) return Error(Code::kInvalidArgument) << "the memory plan puts nothing on the GPU";
  TANDEM_ASSIGN_OR_RETURN(gpu::ExecutorDesc desc, executor_desc(p, m));
  DeviceLayers dl;
  TANDEM_ASSIGN_OR_RETURN(dl.allocator, backend.make_allocator(p.total()));
  TANDEM_ASSIGN_OR_RETURN(dl.executor, backend.create_executor(desc, *dl.allocator));
  return dl;
}

}  // namespace tandem
