#include "cli/gpu_setup.h"

#include "gpu/byte_size.h"
#include "gpu/reserves.h"
#include "storage/gguf.h"

namespace tandem::cli {
namespace {

// The budget and the words that say where it came from.
std::pair<std::optional<uint64_t>, std::string> choose_budget(const std::optional<uint64_t>& flag,
                                                              const GpuSetup& s) {
  if (flag) return {flag, "--gpu-mem"};
  if (s.backend) {
    const gpu::DeviceInfo& d = s.backend->backend().device();
    const uint64_t b = d.free_bytes > gpu::kDeviceHeadroomBytes ? d.free_bytes - gpu::kDeviceHeadroomBytes : 0;
    return {b, "the device's " + gpu::format_bytes(d.free_bytes) + " free less " +
                   gpu::format_bytes(gpu::kDeviceHeadroomBytes) + " headroom"};
  }
  return {std::nullopt, "no CUDA device and no --gpu-mem"};
}

}  // namespace

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
  gpu::LoaderOptions lo;
  lo.library_paths = gpu::default_library_paths(gpu::program_dir());
  auto lb = gpu::load_gpu_backend(lo);
  std::string no_gpu;
  if (lb) {
    s.backend.emplace(std::move(*lb));
  } else {
    no_gpu = lb.error().message();
  }

  if (force_plan || s.backend || r.gpu.gpu_mem || r.gpu.gpu_layers) {
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
  if (s.backend) {
    std::fprintf(stderr, "tandem: GPU %s; the forward pass still runs on the CPU (no GPU executor yet)\n",
                 gpu::describe(s.backend->backend().device()).c_str());
  } else {
    std::fprintf(stderr, "tandem: no CUDA device (%s); running on the CPU\n", no_gpu.c_str());
  }
  std::fflush(plan_out);
  return s;
}

}  // namespace tandem::cli
