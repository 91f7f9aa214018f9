#include "cli/gpu_setup.h"

#include "engine/emulated_gpu.h"
#include "gpu/byte_size.h"
#include "gpu/reserves.h"
#include "storage/gguf.h"

namespace tandem::cli {
namespace {

// The budget and the words that say where it came from.
std::pair<std::optional<uint64_t>, std::string> choose_budget(const std::optional<uint64_t>& flag,
                                                              const GpuSetup& s) {
  if (flag) return {flag, "--gpu-mem"};
  if (s.emulated) return {std::nullopt, "--gpu-emulate with no --gpu-mem: no limit"};
  if (s.backend) {
    const gpu::DeviceInfo& d = s.backend->backend().device();
    const uint64_t b = d.free_bytes > gpu::kDeviceHeadroomBytes ? d.free_bytes - gpu::kDeviceHeadroomBytes : 0;
    return {b, "the device's " + gpu::format_bytes(d.free_bytes) + " free less " +
                   gpu::format_bytes(gpu::kDeviceHeadroomBytes) + " headroom"};
  }
  return {std::nullopt, "no CUDA device and no --gpu-mem"};
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

}  // namespace

RuntimeDevice GpuSetup::device() const {
  if (!plan || plan->items.empty() || !refused.empty()) return {};
  if (emulated) return RuntimeDevice{emulated.get(), &*plan};
  if (backend) return RuntimeDevice{&backend->backend(), &*plan};
  return {};
}

int32_t GpuSetup::device_layers() const { return device().backend != nullptr ? plan->gpu_layers : 0; }

Result<GpuSetup> setup_gpu(const GpuRequest& r, bool force_plan, std::FILE* plan_out) {
  std::optional<uint64_t> budget_flag;
  if (r.gpu.gpu_mem) {
    TANDEM_ASSIGN_OR_RETURN(budget_flag, gpu::parse_byte_size(*r.gpu.gpu_mem));
  }
  std::optional<int32_t> layers;
  if (r.gpu.gpu_layers) {
    TANDEM_ASSIGN_OR_RETURN(layers, parse_gpu_layers(*r.gpu.gpu_layers));
  }
  const auto kv = parse_dtype(r.kv_type);
  if (!kv) return Error(Code::kInvalidArgument) << "unknown KV type '" << r.kv_type << "'";

  GpuSetup s;
  s.layers_required = layers && *layers > 0;
  std::string no_gpu;
  if (r.gpu.emulate) {
    s.emulated = std::make_unique<EmulatedGpuBackend>(r.gpu.emulate_refusal);
  } else {
    gpu::LoaderOptions lo;
    lo.library_paths = gpu::default_library_paths(gpu::program_dir());
    auto lb = gpu::load_gpu_backend(lo);
    if (lb) {
      s.backend.emplace(std::move(*lb));
    } else {
      no_gpu = lb.error().message();
    }
  }

  if (force_plan || s.backend || s.emulated || r.gpu.gpu_mem || r.gpu.gpu_layers) {
    TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(r.model));
    TANDEM_ASSIGN_OR_RETURN(PlanModel m, plan_model_of(f));
    MemoryPlanConfig c;
    auto [budget, source] = choose_budget(budget_flag, s);
    c.budget = budget;
    c.gpu_layers = layers;
    c.n_ctx = r.ctx;
    c.n_seq = r.n_seq;
    c.kv_type = *kv;
    TANDEM_ASSIGN_OR_RETURN(MemoryPlan p, plan_memory(m, c));
    std::fprintf(plan_out, "tandem: GPU budget from %s\n%s", source.c_str(), format_plan(p).c_str());
    s.plan = std::move(p);
  }
  if (s.emulated) {
    if (s.plan->items.empty()) {
      std::fprintf(stderr, "tandem: the GPU is emulated (--gpu-emulate), but the plan puts nothing on it; running on the CPU\n");
    } else {
      std::fprintf(stderr,
                   "tandem: the GPU is emulated (--gpu-emulate: host memory, reference kernels, no CUDA device used); "
                   "%s %s there, the rest on the CPU\n",
                   placed(*s.plan).c_str(), s.plan->gpu_layers > 0 ? "run" : "runs");
    }
  } else if (s.backend) {
    const std::string gpu_name = gpu::describe(s.backend->backend().device());
    if (!s.plan || s.plan->items.empty()) {
      std::fprintf(stderr, "tandem: GPU %s; the plan puts nothing on it, running on the CPU\n", gpu_name.c_str());
    } else {
      std::fprintf(stderr, "tandem: GPU %s; %s %s there, the rest on the CPU\n", gpu_name.c_str(),
                   placed(*s.plan).c_str(), s.plan->gpu_layers > 0 ? "run" : "runs");
    }
  } else {
    std::fprintf(stderr, "tandem: no CUDA device (%s); running on the CPU\n", no_gpu.c_str());
  }
  std::fflush(plan_out);
  return s;
}

Result<Runtime> open_runtime_on(GpuSetup& s, const std::string& model, const ContextConfig& cfg) {
  RuntimeDevice d = s.device();
  d.cpu_fallback = !s.layers_required;
  TANDEM_ASSIGN_OR_RETURN(Runtime rt, open_runtime(model, cfg, d));
  if (!rt.device_refusal.empty()) {
    s.refused = rt.device_refusal;
    std::fprintf(stderr, "tandem: %s cannot run this model (%s); running on the CPU\n",
                 s.emulated ? "the emulated GPU" : "the CUDA backend", s.refused.c_str());
  }
  return rt;
}

}  // namespace tandem::cli
