#include "engine/memory_plan.h"

#include <algorithm>
#include <charconv>

#include "gpu/attention_scratch.h"
#include "gpu/byte_size.h"
#include "gpu/reserves.h"

namespace tandem {
namespace {

using gpu::align_up;
using gpu::format_bytes;

// An allocation assembled part by part, each part at a 256-aligned offset.
class ItemBuilder {
 public:
  ItemBuilder(std::string name, PlanKind kind, int32_t layer) {
    item_.name = std::move(name);
    item_.kind = kind;
    item_.layer = layer;
  }
  void add(std::string name, uint64_t bytes, DType type) {
    if (bytes == 0) return;
    item_.parts.push_back(PlanPart{std::move(name), item_.bytes, bytes, type});
    item_.bytes += align_up(bytes);
  }
  PlanItem take() { return std::move(item_); }

 private:
  PlanItem item_;
};

uint64_t elements_of(const PlanTensor& t) {
  const DTypeTraits& tr = traits(t.type);
  return t.bytes / static_cast<uint64_t>(tr.block_bytes) * static_cast<uint64_t>(tr.block_elems);
}

uint64_t blocks_per_seq(const MemoryPlanConfig& c) {
  return (static_cast<uint64_t>(c.n_ctx) + static_cast<uint64_t>(c.block_tokens) - 1) /
         static_cast<uint64_t>(c.block_tokens);
}

// Buffers of one GPU forward over `b` tokens, f32 (indices i32); `logit_rows` of them
// need logits. A batch runs each sequence at most once: the block tables and segments
// (first row, tokens, first position) of up to n_seq sequences go with it. The chunk's
// inputs come first, in the order gpu/executor.h's ActivationSlots states, x last: the
// CUDA executor copies them in with one copy (gpu/cuda/chunk_inputs.h).
PlanItem activations_item(const ModelConfig& mc, const MemoryPlanConfig& c, int32_t b, int32_t logit_rows) {
  ItemBuilder it("activations (batch " + std::to_string(b) + ")", PlanKind::kActivations, -1);
  const auto f32 = [&](const char* name, int64_t width) {
    it.add(name, static_cast<uint64_t>(b) * static_cast<uint64_t>(width) * 4, DType::kF32);
  };
  it.add("positions [batch]", static_cast<uint64_t>(b) * 4, DType::kI32);
  it.add("table_start [batch]", static_cast<uint64_t>(b) * 4, DType::kI32);
  it.add("n_ctx [batch]", static_cast<uint64_t>(b) * 4, DType::kI32);
  it.add("segments [n_seq, 3]", static_cast<uint64_t>(c.n_seq) * 3 * 4, DType::kI32);
  it.add("block_tables [n_seq, blocks per sequence]", static_cast<uint64_t>(c.n_seq) * blocks_per_seq(c) * 4,
         DType::kI32);
  f32("x [batch, n_embd]", mc.n_embd);
  f32("x_norm [batch, n_embd]", mc.n_embd);
  f32("q [batch, q_dim]", mc.q_dim());
  f32("k [batch, kv_dim]", mc.kv_dim());
  f32("v [batch, kv_dim]", mc.kv_dim());
  f32("attn_out [batch, q_dim]", mc.q_dim());
  f32("ffn_gate [batch, n_ff]", mc.n_ff);
  f32("ffn_up [batch, n_ff]", mc.n_ff);
  f32("proj_out [batch, n_embd]", mc.n_embd);
  it.add("logits [" + std::to_string(logit_rows) + ", n_vocab]",
         static_cast<uint64_t>(logit_rows) * static_cast<uint64_t>(mc.n_vocab) * 4, DType::kF32);
  return it.take();
}

// The split-K partial states of decode attention, for launches of up to max_batch
// tokens over up to the context limit (gpu/attention_scratch.h); none when no launch splits.
PlanItem attention_item(const ModelConfig& mc, const MemoryPlanConfig& c) {
  ItemBuilder it("attention scratch", PlanKind::kAttentionScratch, -1);
  gpu::AttnScratchShape s;
  s.n_heads = mc.n_head;
  s.n_kv_heads = mc.n_head_kv;
  s.head_dim = mc.head_dim;
  s.max_batch = c.max_batch;
  s.max_ctx = static_cast<int32_t>(blocks_per_seq(c) * static_cast<uint64_t>(c.block_tokens));
  it.add("split-K partials [tokens, n_head, splits, 2 + head_dim]", gpu::attention_scratch_bytes(s), DType::kF32);
  return it.take();
}

// Batches past the GEMV limit dequantize one weight matrix at a time to f16 for cuBLAS
// (the output head in row chunks of the same size) and convert their input to f16.
PlanItem workspace_item(const ModelConfig& mc, int32_t b, uint64_t largest_matrix_elems) {
  ItemBuilder it("dequant workspace (batch " + std::to_string(b) + ")", PlanKind::kWorkspace, -1);
  if (b <= gpu::kGemvMaxBatch) return it.take();
  const int64_t widest = std::max({mc.n_embd, mc.n_ff, mc.q_dim()});
  it.add("weights as f16 [largest layer matrix]", largest_matrix_elems * 2, DType::kF16);
  it.add("input as f16 [batch, widest]", static_cast<uint64_t>(b) * static_cast<uint64_t>(widest) * 2, DType::kF16);
  return it.take();
}

PlanItem fixed_item(const char* name, PlanKind kind, uint64_t bytes) {
  ItemBuilder it(name, kind, -1);
  it.add(name, bytes, DType::kI8);
  return it.take();
}

// Everything that could go on the GPU, before choosing.
struct Candidates {
  PlanItem head;                     // output_norm + output (or tied token_embd)
  PlanItem globals;                  // rope_freqs, when present (needed by every GPU layer)
  std::vector<PlanItem> weights;     // [n_layer]
  std::vector<PlanItem> kv;          // [n_layer]
  std::vector<PlanItem> fixed;       // activations, workspace, cuBLAS, attention, graphs (non-empty ones)
  uint64_t fixed_bytes = 0;
  uint64_t all_weight_bytes = 0;     // every tensor of the model
  uint64_t token_embd_bytes = 0;
  std::vector<std::string> host_only;  // global tensors that stay on the host whatever happens
};

Result<Candidates> candidates(const PlanModel& m, const MemoryPlanConfig& c) {
  const ModelConfig& mc = m.config;
  Candidates k;
  ItemBuilder head("output head", PlanKind::kWeights, -1), globals("rope factors", PlanKind::kWeights, -1);
  std::vector<ItemBuilder> layers;
  for (int32_t i = 0; i < mc.n_layer; ++i)
    layers.emplace_back("blk." + std::to_string(i) + " weights", PlanKind::kWeights, i);
  const std::string out_name = m.tied_output ? "token_embd.weight" : "output.weight";
  uint64_t largest = 0;
  for (const PlanTensor& t : m.tensors) {
    k.all_weight_bytes += t.bytes;
    if (t.name == "token_embd.weight") k.token_embd_bytes = t.bytes;
    if (t.layer >= 0) {
      if (t.layer >= mc.n_layer)
        return Error(Code::kBadGguf) << "tensor " << t.name << " is in layer " << t.layer << " of " << mc.n_layer;
      layers[static_cast<size_t>(t.layer)].add(t.name, t.bytes, t.type);
      largest = std::max(largest, elements_of(t));
    } else if (t.name == "output_norm.weight" || t.name == out_name) {
      head.add(t.name, t.bytes, t.type);
    } else if (t.name == "rope_freqs.weight") {
      globals.add(t.name, t.bytes, t.type);
    } else {
      k.host_only.push_back(t.name);
    }
  }
  k.head = head.take();
  k.globals = globals.take();
  for (ItemBuilder& b : layers) k.weights.push_back(b.take());

  // KV: as Context sizes its pool, one spare block per sequence (copy-on-write).
  const auto row = row_bytes(c.kv_type, static_cast<uint64_t>(mc.head_dim));
  const int64_t blocks = ((c.n_ctx + c.block_tokens - 1) / c.block_tokens + 1) * static_cast<int64_t>(c.n_seq);
  const uint64_t pool = static_cast<uint64_t>(blocks) * static_cast<uint64_t>(mc.n_head_kv) *
                        static_cast<uint64_t>(c.block_tokens) * *row;
  for (int32_t i = 0; i < mc.n_layer; ++i) {
    ItemBuilder kv("blk." + std::to_string(i) + " KV cache", PlanKind::kKvCache, i);
    const std::string shape = " [" + std::to_string(blocks) + " blocks, " + std::to_string(mc.n_head_kv) +
                              " heads, " + std::to_string(c.block_tokens) + " tokens, " +
                              std::to_string(mc.head_dim) + "]";
    kv.add("K" + shape, pool, c.kv_type);
    kv.add("V" + shape, pool, c.kv_type);
    k.kv.push_back(kv.take());
  }

  const int32_t logit_rows = c.all_logits ? c.max_batch : std::min(c.max_batch, c.n_seq);
  for (PlanItem it : {activations_item(mc, c, c.max_batch, logit_rows), workspace_item(mc, c.max_batch, largest),
                      fixed_item("cuBLAS workspace", PlanKind::kCublas, gpu::kCublasWorkspaceBytes),
                      attention_item(mc, c),
                      fixed_item("CUDA graph reserve", PlanKind::kGraphs, gpu::kCudaGraphReserveBytes)}) {
    if (it.bytes == 0) continue;
    k.fixed_bytes += it.bytes;
    k.fixed.push_back(std::move(it));
  }
  return k;
}

// Layers that fit under `budget` after the fixed parts and the head, taken from the
// last layer down (the first GPU layer also brings the globals).
int32_t layers_that_fit(const Candidates& k, uint64_t budget) {
  const uint64_t base = k.fixed_bytes + k.head.bytes;
  if (base > budget) return 0;
  uint64_t used = base;
  int32_t n = 0;
  for (size_t i = k.weights.size(); i-- > 0;) {
    const uint64_t cost = k.weights[i].bytes + k.kv[i].bytes + (n == 0 ? k.globals.bytes : 0);
    if (cost > budget - used) break;
    used += cost;
    ++n;
  }
  return n;
}

std::vector<BatchCost> batch_costs(const PlanModel& m, const MemoryPlanConfig& c) {
  uint64_t largest = 0;
  for (const PlanTensor& t : m.tensors)
    if (t.layer >= 0) largest = std::max(largest, elements_of(t));
  std::vector<int32_t> sizes = {1};
  for (int32_t b = gpu::kGemvMaxBatch; b < c.max_batch; b *= 8) sizes.push_back(b);
  if (c.max_batch > 1) sizes.push_back(c.max_batch);
  std::vector<BatchCost> v;
  for (int32_t b : sizes) {
    const int32_t logit_rows = c.all_logits ? b : std::min(b, c.n_seq);
    v.push_back(BatchCost{b, activations_item(m.config, c, b, logit_rows).bytes, workspace_item(m.config, b, largest).bytes});
  }
  return v;
}

Status check_config(const PlanModel& m, const MemoryPlanConfig& c) {
  if (c.n_seq < 1 || c.block_tokens < 1 || c.max_batch < 1 || c.n_ctx < 0)
    return Error(Code::kInvalidArgument) << "memory plan: n_seq " << c.n_seq << ", block_tokens " << c.block_tokens
                                         << ", max_batch " << c.max_batch << ", n_ctx " << c.n_ctx
                                         << " (each must be at least 1)";
  if (c.gpu_layers && *c.gpu_layers < 0)
    return Error(Code::kInvalidArgument) << "memory plan: --gpu-layers " << *c.gpu_layers << " is negative";
  const DType t = c.kv_type;
  if ((t != DType::kF32 && t != DType::kF16 && t != DType::kBF16 && t != DType::kQ8_0) ||
      !row_bytes(t, static_cast<uint64_t>(m.config.head_dim)))
    return Error(Code::kInvalidArgument) << "memory plan: KV type " << dtype_name(t) << " cannot hold rows of "
                                         << m.config.head_dim << " (f32, f16, bf16 or q8_0)";
  if (m.config.n_layer < 1) return Error(Code::kInvalidArgument) << "memory plan: the model has no layers";
  return Status::ok();
}

Error does_not_fit(const Candidates& k, int32_t n, uint64_t need, uint64_t budget) {
  uint64_t w = k.head.bytes + (n > 0 ? k.globals.bytes : 0), kv = 0;
  for (size_t i = k.weights.size() - static_cast<size_t>(n); i < k.weights.size(); ++i) {
    w += k.weights[i].bytes;
    kv += k.kv[i].bytes;
  }
  Error e(Code::kOutOfMemory);
  e << "the GPU memory plan does not fit: --gpu-layers " << n << " (and the output head) needs "
    << format_bytes(need) << " (" << need << " bytes: weights " << format_bytes(w) << ", KV cache "
    << format_bytes(kv);
  for (const PlanItem& f : k.fixed) e << ", " << plan_kind_name(f.kind) << " " << format_bytes(f.bytes);
  e << ") but the budget is " << format_bytes(budget) << " (" << budget << " bytes), " << format_bytes(need - budget)
    << " short; " << layers_that_fit(k, budget) << " layers fit (--gpu-layers auto)";
  return e;
}

}  // namespace

const char* plan_kind_name(PlanKind k) {
  switch (k) {
    case PlanKind::kWeights: return "weights";
    case PlanKind::kKvCache: return "KV cache";
    case PlanKind::kActivations: return "activations";
    case PlanKind::kWorkspace: return "dequant workspace";
    case PlanKind::kCublas: return "cuBLAS workspace";
    case PlanKind::kAttentionScratch: return "attention scratch";
    case PlanKind::kGraphs: return "CUDA graph reserve";
  }
  return "?";
}

uint64_t MemoryPlan::total() const {
  uint64_t t = 0;
  for (const PlanItem& i : items) t += i.bytes;
  return t;
}

uint64_t MemoryPlan::total(PlanKind k) const {
  uint64_t t = 0;
  for (const PlanItem& i : items)
    if (i.kind == k) t += i.bytes;
  return t;
}

Result<MemoryPlan> plan_memory(const PlanModel& m, const MemoryPlanConfig& config) {
  TANDEM_TRY(check_config(m, config));
  MemoryPlanConfig c = config;
  if (c.n_ctx == 0) c.n_ctx = m.config.n_ctx_train > 0 ? std::min(m.config.n_ctx_train, 4096) : 4096;
  TANDEM_ASSIGN_OR_RETURN(Candidates k, candidates(m, c));
  const int32_t n_layer = m.config.n_layer;
  const uint64_t budget = c.budget.value_or(UINT64_MAX);

  MemoryPlan p;
  p.model_name = m.config.name;
  p.config = c;
  p.n_layer = n_layer;
  p.by_batch = batch_costs(m, c);
  int32_t n = 0;
  bool head = false;
  if (!c.gpu_layers) {  // auto
    head = k.fixed_bytes + k.head.bytes <= budget;
    n = head ? layers_that_fit(k, budget) : 0;
    if (!head)
      p.notes.push_back("the budget (" + format_bytes(budget) + ") cannot hold the fixed parts (" +
                        format_bytes(k.fixed_bytes) + ") and the output head (" + format_bytes(k.head.bytes) +
                        "): nothing goes on the GPU");
  } else if (*c.gpu_layers > 0) {
    n = std::min(*c.gpu_layers, n_layer);
    if (*c.gpu_layers > n_layer)
      p.notes.push_back("--gpu-layers " + std::to_string(*c.gpu_layers) + " > " + std::to_string(n_layer) +
                        " layers: all of them");
    head = true;
    uint64_t need = k.fixed_bytes + k.head.bytes + k.globals.bytes;
    for (int32_t i = n_layer - n; i < n_layer; ++i) need += k.weights[i].bytes + k.kv[i].bytes;
    if (need > budget) return does_not_fit(k, n, need, budget);
  }
  p.gpu_layers = n;
  p.output_on_gpu = head;
  if (head) {
    p.items.push_back(std::move(k.head));
    if (n > 0 && k.globals.bytes > 0) p.items.push_back(std::move(k.globals));
    for (int32_t i = n_layer - n; i < n_layer; ++i) p.items.push_back(std::move(k.weights[static_cast<size_t>(i)]));
    for (int32_t i = n_layer - n; i < n_layer; ++i) p.items.push_back(std::move(k.kv[static_cast<size_t>(i)]));
    for (PlanItem& f : k.fixed) p.items.push_back(std::move(f));
  }
  uint64_t gpu_weights = 0;
  for (const PlanItem& i : p.items)
    if (i.kind == PlanKind::kWeights)
      for (const PlanPart& part : i.parts) gpu_weights += part.bytes;
  p.host_weight_bytes = k.all_weight_bytes - gpu_weights + (head && m.tied_output ? k.token_embd_bytes : 0);
  if (head && m.tied_output)
    p.notes.push_back("tied output: the head holds a GPU copy of token_embd.weight for the logits; lookups stay on the host");
  for (const std::string& t : k.host_only)
    if (t != "token_embd.weight") p.notes.push_back(t + " stays in host memory");
  if (head && c.max_batch > gpu::kGemvMaxBatch)
    p.notes.push_back("batches over " + std::to_string(gpu::kGemvMaxBatch) +
                      " tokens dequantize one matrix at a time into the workspace (the output head in row chunks)");
  return p;
}

Result<std::vector<gpu::DeviceBuffer>> allocate_plan(const MemoryPlan& p, gpu::Allocator& a) {
  std::vector<gpu::DeviceBuffer> out;
  out.reserve(p.items.size());
  for (const PlanItem& it : p.items) {
    TANDEM_ASSIGN_OR_RETURN(gpu::DeviceBuffer b, a.allocate(it.bytes, it.name));
    out.push_back(std::move(b));
  }
  return out;
}

Result<std::optional<int32_t>> parse_gpu_layers(std::string_view s) {
  if (s == "auto") return std::optional<int32_t>();
  int32_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < 0)
    return Error(Code::kInvalidArgument) << "bad --gpu-layers '" << s << "': a number of layers (0 or more) or 'auto'";
  return std::optional<int32_t>(n);
}

}  // namespace tandem
