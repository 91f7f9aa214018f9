#include "cli/gpu_setup.h"

#include "gpu/byte_size.h"
#include "gpu/reserves.h"
#include "storage/gguf.h"

namespace tandem::cli {
namespace {

// The words that say where the budget came from.
std::string budget_source(const DeviceBudget& b) {
  switch (b.source) {
    case BudgetSource::kRequest: return "--gpu-mem";
    case BudgetSource::kUnlimited: return "--gpu-emulate with no --gpu-mem: no limit";
    case BudgetSource::kDeviceFree:
      return "the device's " + gpu::format_bytes(b.device_free) + " free less " +
             gpu::format_bytes(gpu::kDeviceHeadroomBytes) + " headroom";
    case BudgetSource::kNoDevice: return "no CUDA device and no --gpu-mem";
  }
  return "?";
}

// What the plan puts on the device, in words: "the output head and layers 3-4".
std::string placed(const MemoryPlan& p) {
  std::string s = p.output_on_gpu ? "the output head" : "";
  if (p.gpu_layers > 0) {
    s += s.empty() ? "" : " and ";
    s += p.gpu_layers == 1 ? "layer " + std::to_string(p.n_layer - 1)
                           : "layers " + std::to_string(p.first_gpu_layer()) + "-" + std::to_string(p.n_layer - 1);
  }
  return s;
}

// The flags as the engine's request.
Result<DeviceRequest> device_request(const GpuOptions& o) {
  DeviceRequest r;
  if (o.gpu_mem) {
    TANDEM_ASSIGN_OR_RETURN(r.budget, gpu::parse_byte_size(*o.gpu_mem));
  }
  if (o.gpu_layers) {
    TANDEM_ASSIGN_OR_RETURN(r.gpu_layers, parse_gpu_layers(*o.gpu_layers));
  }
  r.emulate = o.emulate;
  r.emulate_refusal = o.emulate_refusal;
  r.library_paths = gpu::default_library_paths(gpu::program_dir());
  return r;
}

// Says once where the run goes.
void say_where(const GpuSetup& s) {
  if (s.gpu.emulated) {
    if (s.plan->items.empty()) {
      std::fprintf(stderr, "tandem: the GPU is emulated (--gpu-emulate), but the plan puts nothing on it; running on the CPU\n");
    } else {
      std::fprintf(stderr,
                   "tandem: the GPU is emulated (--gpu-emulate: host memory, reference kernels, no CUDA device used); "
                   "%s %s there, the rest on the CPU\n",
                   placed(*s.plan).c_str(), s.plan->gpu_layers > 0 ? "run" : "runs");
    }
  } else if (s.gpu.cuda) {
    const std::string gpu_name = gpu::describe(s.gpu.cuda->backend().device());
    if (!s.plan || s.plan->items.empty()) {
      std::fprintf(stderr, "tandem: GPU %s; the plan puts nothing on it, running on the CPU\n", gpu_name.c_str());
    } else {
      std::fprintf(stderr, "tandem: GPU %s; %s %s there, the rest on the CPU\n", gpu_name.c_str(),
                   placed(*s.plan).c_str(), s.plan->gpu_layers > 0 ? "run" : "runs");
    }
  } else {
    std::fprintf(stderr, "tandem: no CUDA device (%s); running on the CPU\n", s.gpu.missing.c_str());
  }
}

}  // namespace

RuntimeDevice GpuSetup::device() const {
  if (!plan || !refused.empty()) return {};
  return runtime_device(request, gpu, &*plan);
}

int32_t GpuSetup::device_layers() const { return device().backend != nullptr ? plan->gpu_layers : 0; }

Result<GpuSetup> setup_gpu(const GpuRequest& r, bool force_plan, std::FILE* plan_out) {
  GpuSetup s;
  TANDEM_ASSIGN_OR_RETURN(s.request, device_request(r.gpu));
  const auto kv = parse_dtype(r.kv_type);
  if (!kv) return Error(Code::kInvalidArgument) << "unknown KV type '" << r.kv_type << "'";
  s.gpu = find_gpu(s.request);

  if (force_plan || s.gpu.backend() != nullptr || r.gpu.gpu_mem || r.gpu.gpu_layers) {
    TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(r.model));
    TANDEM_ASSIGN_OR_RETURN(PlanModel m, plan_model_of(f));
    TANDEM_ASSIGN_OR_RETURN(const DeviceBudget budget, gpu_budget(s.request, s.gpu, /*measure_now=*/false));
    ContextConfig cc;
    cc.n_ctx = r.ctx;
    cc.n_seq = r.n_seq;
    cc.kv_type = *kv;
    TANDEM_ASSIGN_OR_RETURN(MemoryPlan p, plan_memory(m, gpu_plan_config(s.request, budget, cc)));
    std::fprintf(plan_out, "tandem: GPU budget from %s\n%s", budget_source(budget).c_str(), format_plan(p).c_str());
    s.plan = std::move(p);
  }
  say_where(s);
  std::fflush(plan_out);
  return s;
}

Result<Runtime> open_runtime_on(GpuSetup& s, const std::string& model, const ContextConfig& cfg) {
  TANDEM_ASSIGN_OR_RETURN(Runtime rt, open_runtime(model, cfg, s.device()));
  if (!rt.device_refusal.empty()) {
    s.refused = rt.device_refusal;
    std::fprintf(stderr, "tandem: %s cannot run this model (%s); running on the CPU\n", s.gpu.what(),
                 s.refused.c_str());
  }
  return rt;
}

}  // namespace tandem::cli
