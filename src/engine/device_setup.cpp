#include "engine/device_setup.h"

#include <algorithm>

#include "engine/emulated_gpu.h"
#include "engine/model_config.h"
#include "gpu/reserves.h"
#include "storage/gguf.h"

namespace tandem {

gpu::GpuBackend* FoundGpu::backend() const {
  if (emulated) return emulated.get();
  if (cuda) return &cuda->backend();
  return nullptr;
}

FoundGpu find_gpu(const DeviceRequest& r) {
  FoundGpu g;
  if (r.emulate) {
    g.emulated = std::make_unique<EmulatedGpuBackend>(r.emulate_refusal);
    return g;
  }
  gpu::LoaderOptions lo;
  lo.library_paths = r.library_paths;
  lo.device = r.cuda_device;
  auto lb = gpu::load_gpu_backend(lo);
  if (lb) {
    g.cuda.emplace(std::move(*lb));
  } else {
    g.missing = lb.error().message();
  }
  return g;
}

Result<DeviceBudget> gpu_budget(const DeviceRequest& r, const FoundGpu& g, bool measure_now) {
  DeviceBudget b;
  if (r.budget) {
    b.bytes = r.budget;
    b.source = BudgetSource::kRequest;
  } else if (g.emulated) {
    b.source = BudgetSource::kUnlimited;
  } else if (g.cuda) {
    gpu::GpuBackend& dev = g.cuda->backend();
    uint64_t free = dev.device().free_bytes;
    if (measure_now) {
      TANDEM_ASSIGN_OR_RETURN(const gpu::DeviceInfo now, dev.refresh_memory());
      free = now.free_bytes;
    }
    b.bytes = free > gpu::kDeviceHeadroomBytes ? free - gpu::kDeviceHeadroomBytes : 0;
    b.source = BudgetSource::kDeviceFree;
    b.device_free = free;
  } else {
    b.source = BudgetSource::kNoDevice;
  }
  return b;
}

MemoryPlanConfig gpu_plan_config(const DeviceRequest& r, const DeviceBudget& b, const ContextConfig& cfg) {
  MemoryPlanConfig c;
  c.budget = b.bytes;
  c.gpu_layers = r.gpu_layers;
  c.n_ctx = cfg.n_ctx;
  c.n_seq = cfg.n_seq;
  c.block_tokens = cfg.block_tokens;
  c.kv_type = cfg.kv_type;
  return c;
}

RuntimeDevice runtime_device(const DeviceRequest& r, const FoundGpu& g, const MemoryPlan* plan) {
  gpu::GpuBackend* backend = g.backend();
  if (backend == nullptr || plan == nullptr || plan->items.empty()) return {};
  return RuntimeDevice{backend, plan, !r.layers_required()};
}

Result<DevicePlacement> place_or_fall_back(const RuntimeDevice& d, const Model& m) {
  DevicePlacement out;
  if (d.backend == nullptr || d.plan == nullptr || d.plan->items.empty()) return out;
  auto placed = place_on_device(*d.backend, *d.plan, m);
  if (placed) {
    out.layers = std::move(*placed);
    return out;
  }
  if (placed.error().code() != Code::kUnsupported) return placed.error();
  if (!d.cpu_fallback)
    return Error(Code::kUnsupported) << d.backend->device().name << " cannot run this model: "
                                     << placed.error().message();
  out.refusal = placed.error().message();
  if (out.refusal.empty()) out.refusal = "unsupported";  // never empty: callers test it
  return out;
}

Result<ModelLoadOptions> device_load_options(const std::string& path, const DeviceRequest& r, const FoundGpu& g) {
  ModelLoadOptions o;
  if (!r.layers_required() || g.backend() == nullptr) return o;
  TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(path));
  TANDEM_ASSIGN_OR_RETURN(const ModelConfig c, read_model_config(f));
  o.cpu_layers = std::max(0, c.n_layer - *r.gpu_layers);
  o.cpu_head = false;  // an explicit N always places the head (memory_plan.h)
  return o;
}

Result<ContextDevice> place_context(const DeviceRequest& r, const FoundGpu& g, const Model& m,
                                    const ContextConfig& cfg) {
  ContextDevice out;
  if (r.gpu_layers && *r.gpu_layers == 0) return out;
  if (g.backend() == nullptr) {
    if (r.layers_required())
      return Error(Code::kUnsupported) << *r.gpu_layers << " layers were asked for on the GPU, but there is no GPU: "
                                       << g.missing;
    out.cpu_reason = "no CUDA device (" + g.missing + ")";
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(const DeviceBudget b, gpu_budget(r, g, /*measure_now=*/true));
  TANDEM_ASSIGN_OR_RETURN(PlanModel pm, plan_model_of(m.file()));
  TANDEM_ASSIGN_OR_RETURN(out.plan, plan_memory(pm, gpu_plan_config(r, b, cfg)));
  if (out.plan->items.empty()) {
    out.cpu_reason = "the GPU memory plan puts nothing on the GPU";
    if (!out.plan->notes.empty()) out.cpu_reason += " (" + out.plan->notes.front() + ")";
    return out;
  }
  TANDEM_ASSIGN_OR_RETURN(DevicePlacement placed, place_or_fall_back(runtime_device(r, g, &*out.plan), m));
  out.layers = std::move(placed.layers);
  if (!placed.refusal.empty()) out.cpu_reason = std::string(g.what()) + " cannot run this model (" + placed.refusal + ")";
  return out;
}

}  // namespace tandem
