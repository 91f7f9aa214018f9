// The memory plan as a table: runs of equal layers on one line, then one layer's
// tensors, the cost of each batch size, and the notes.
#include <cstdio>
#include <string>

#include "engine/memory_plan.h"
#include "gpu/byte_size.h"

namespace tandem {
namespace {

using gpu::format_bytes;

std::string line(const char* fmt, const std::string& a, int64_t count, const std::string& each,
                 const std::string& total) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, a.c_str(), static_cast<long long>(count), each.c_str(), total.c_str());
  return buf;
}

constexpr const char* kRow = "  %-44s %6lld %12s %12s\n";

// Consecutive layer items of one kind and one size print as one row.
std::string item_rows(const MemoryPlan& p) {
  std::string out;
  const auto& items = p.items;
  for (size_t i = 0; i < items.size();) {
    size_t j = i + 1;
    if (items[i].layer >= 0)
      while (j < items.size() && items[j].kind == items[i].kind && items[j].bytes == items[i].bytes &&
             items[j].layer == items[j - 1].layer + 1)
        ++j;
    std::string name = items[i].name;
    if (items[i].layer >= 0) {
      name = "blk." + std::to_string(items[i].layer);
      if (j - i > 1) name += "-" + std::to_string(items[j - 1].layer);
      name += std::string(" ") + plan_kind_name(items[i].kind);
    }
    const uint64_t n = j - i;
    out += line(kRow, name, static_cast<int64_t>(n), format_bytes(items[i].bytes), format_bytes(items[i].bytes * n));
    i = j;
  }
  return out;
}

std::string layer_parts(const MemoryPlan& p) {
  const PlanItem* last = nullptr;
  for (const PlanItem& it : p.items)
    if (it.kind == PlanKind::kWeights && it.layer >= 0) last = &it;
  if (last == nullptr) return {};
  std::string out = "\n  tensors of blk." + std::to_string(last->layer) + ":\n";
  const std::string prefix = "blk." + std::to_string(last->layer) + ".";
  for (const PlanPart& part : last->parts) {
    std::string name = part.name.rfind(prefix, 0) == 0 ? part.name.substr(prefix.size()) : part.name;
    char buf[160];
    std::snprintf(buf, sizeof(buf), "    %-28s %-6s %12s at +%llu\n", name.c_str(),
                  std::string(dtype_name(part.type)).c_str(), format_bytes(part.bytes).c_str(),
                  static_cast<unsigned long long>(part.offset));
    out += buf;
  }
  return out;
}

std::string batch_rows(const MemoryPlan& p) {
  std::string out = "\n  per batch size:  tokens  activations    workspace\n";
  for (const BatchCost& b : p.by_batch) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "                  %6d %12s %12s\n", b.batch, format_bytes(b.activations).c_str(),
                  format_bytes(b.workspace).c_str());
    out += buf;
  }
  return out;
}

}  // namespace

std::string format_plan(const MemoryPlan& p) {
  const MemoryPlanConfig& c = p.config;
  std::string out = "GPU memory plan";
  if (!p.model_name.empty()) out += " for " + p.model_name;
  out += ": " + std::to_string(p.n_layer) + " layers, context " + std::to_string(c.n_ctx) + " x " +
         std::to_string(c.n_seq) + (c.n_seq == 1 ? " sequence" : " sequences") + ", KV " +
         std::string(dtype_name(c.kv_type)) + ", batches up to " + std::to_string(c.max_batch) + " tokens\n";
  out += "  budget: " + (c.budget ? format_bytes(*c.budget) + " (" + std::to_string(*c.budget) + " bytes)"
                                  : std::string("none (a full offload)")) + "\n";
  out += "  on the GPU: ";
  if (p.items.empty()) {
    out += "nothing (CPU only)\n";
  } else {
    out += p.output_on_gpu ? "output head" : "";
    if (p.gpu_layers > 0)
      out += " + layers " + std::to_string(p.first_gpu_layer()) + "-" + std::to_string(p.n_layer - 1);
    out += " (" + std::to_string(p.gpu_layers) + " of " + std::to_string(p.n_layer) + " layers)\n";
    char header[160];
    std::snprintf(header, sizeof(header), "\n  %-44s %6s %12s %12s\n", "allocation", "count", "each", "total");
    out += header;
    out += item_rows(p);
    std::string tail = format_bytes(p.total()) + " (" + std::to_string(p.total()) + " bytes)";
    if (c.budget) tail += ", " + format_bytes(*c.budget - p.total()) + " of the budget left";
    out += "  total on the GPU: " + tail + "\n";
  }
  out += "  weights in host memory: " + format_bytes(p.host_weight_bytes) + "\n";
  out += layer_parts(p);
  out += batch_rows(p);
  for (const std::string& n : p.notes) out += "  note: " + n + "\n";
  return out;
}

}  // namespace tandem
