// C API: GPU placement. tandem_model_params become the engine's DeviceRequest (the same
// one the command line's --gpu-* flags become, engine/device_setup.h); contexts report
// what they got.
#include <dlfcn.h>

#include <string>

#include "api/api_internal.h"
#include "gpu/loader.h"

namespace tandem::api {
namespace {

// The directory libtandem was loaded from ("" if unknown): an installed libtandem_cuda.so
// sits beside it, a build tree's in ../gpu (src/api beside src/gpu).
std::string library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&library_dir), &info) == 0 || info.dli_fname == nullptr) return {};
  const std::string p = info.dli_fname;
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

}  // namespace

Result<DeviceRequest> device_request(const tandem_model_params& p) {
  DeviceRequest r;
  if (p.n_gpu_layers < TANDEM_GPU_LAYERS_AUTO)
    return Error(Code::kInvalidArgument) << "params.n_gpu_layers is " << p.n_gpu_layers
                                         << ": TANDEM_GPU_LAYERS_AUTO (-1), 0 (CPU only) or a number of layers";
  if (p.gpu_device < 0) return Error(Code::kInvalidArgument) << "params.gpu_device is " << p.gpu_device << ", must be >= 0";
  const auto kind = raw_value(p.gpu);
  if (kind != TANDEM_GPU_CUDA && kind != TANDEM_GPU_EMULATED)
    return Error(Code::kInvalidArgument) << "params.gpu is " << kind << ", not a tandem_gpu_kind";
  if (p.gpu_emulate_refusal != nullptr && kind != TANDEM_GPU_EMULATED)
    return Error(Code::kInvalidArgument) << "params.gpu_emulate_refusal is set but params.gpu is not TANDEM_GPU_EMULATED";
  if (p.n_gpu_layers != TANDEM_GPU_LAYERS_AUTO) r.gpu_layers = p.n_gpu_layers;
  if (p.gpu_mem != 0) r.budget = p.gpu_mem;
  r.emulate = kind == TANDEM_GPU_EMULATED;
  if (p.gpu_emulate_refusal != nullptr) {
    r.emulate_refusal = p.gpu_emulate_refusal;
    // The emulated GPU refuses when its text is non-empty: an empty one still refuses.
    if (r.emulate_refusal.empty()) r.emulate_refusal = "refused (params.gpu_emulate_refusal)";
  }
  r.cuda_device = p.gpu_device;
  r.library_paths = gpu::default_library_paths(library_dir());
  return r;
}

Result<ContextDevice> place_for_context(const LoadedModel& m, const ContextConfig& cfg) {
  if (m.gpu == nullptr) return ContextDevice{};
  const std::lock_guard<std::mutex> lock(m.gpu->mutex);
  return place_context(m.gpu->request, m.gpu->found, *m.model, cfg);
}

ContextGpu context_gpu(const LoadedModel& m, const ContextDevice& d) {
  ContextGpu g;
  g.fallback_reason = d.cpu_reason;
  if (d.layers && d.plan) {
    g.n_layers = d.plan->gpu_layers;
    g.output = d.plan->output_on_gpu;
    g.bytes = d.plan->total();
    g.name = m.gpu->found.backend()->device().name;
  }
  return g;
}

}  // namespace tandem::api

extern "C" {

int32_t tandem_context_n_gpu_layers(const tandem_context* ctx) { return ctx != nullptr ? ctx->gpu.n_layers : -1; }

int tandem_context_gpu_output(const tandem_context* ctx) { return ctx != nullptr && ctx->gpu.output ? 1 : 0; }

uint64_t tandem_context_gpu_bytes(const tandem_context* ctx) { return ctx != nullptr ? ctx->gpu.bytes : 0; }

const char* tandem_context_gpu_name(const tandem_context* ctx) {
  return ctx != nullptr ? ctx->gpu.name.c_str() : "";
}

const char* tandem_context_gpu_fallback_reason(const tandem_context* ctx) {
  return ctx != nullptr ? ctx->gpu.fallback_reason.c_str() : "";
}

}  // extern "C"
