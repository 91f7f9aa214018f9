// Choosing the GPU a run uses and deciding what goes on it, shared by the command line
// (src/cli/gpu_setup.h: --gpu-layers, --gpu-mem, --gpu-emulate) and the C API
// (tandem_model_params): one implementation of finding the device, the budget, the
// memory plan and the CPU fallback. Nothing here prints; callers say what happened.
//
// The steps, in order:
//  1. find_gpu: the emulated GPU when asked (engine/emulated_gpu.h), else the CUDA
//     backend library (gpu/loader.h), else none, and why.
//  2. gpu_budget: the request's bytes, else the CUDA device's free memory less
//     gpu::kDeviceHeadroomBytes, else no limit (the emulated GPU, or no device).
//  3. plan_memory over gpu_plan_config(...): an explicit layer count that cannot fit is
//     refused here (kOutOfMemory, with every size), before anything is loaded or allocated.
//  4. place_or_fall_back (through open_runtime, or place_context for a model already
//     loaded): the plan's part goes on the device; a device that refuses the model as
//     unsupported leaves it wholly to the CPU unless the request named a layer count.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/context.h"
#include "engine/device_layers.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "engine/runtime.h"
#include "gpu/backend.h"
#include "gpu/loader.h"

namespace tandem {

// What a caller asks of the GPU.
struct DeviceRequest {
  // nullopt: auto (the output head, then as many of the last layers as the budget holds;
  // a device that refuses the model leaves it to the CPU). 0: nothing on the GPU.
  // N > 0: the head and the last min(N, n_layer) layers, or an error.
  std::optional<int32_t> gpu_layers;
  // Bytes of device memory the plan may use; nullopt: see gpu_budget.
  std::optional<uint64_t> budget;
  bool emulate = false;         // an EmulatedGpuBackend instead of a CUDA device
  std::string emulate_refusal;  // with emulate, non-empty: it refuses every model (kUnsupported, this text)
  std::vector<std::string> library_paths;  // where to look for libtandem_cuda.so (gpu::default_library_paths)
  int32_t cuda_device = 0;

  // An explicit layer count: a device that refuses the model is an error, not a fallback.
  bool layers_required() const { return gpu_layers && *gpu_layers > 0; }
};

// The GPU a request found: the emulated one, a CUDA device, or neither (`missing` says
// why). Move-only; backends must outlive every executor made on them.
struct FoundGpu {
  std::optional<gpu::LoadedBackend> cuda;
  std::unique_ptr<gpu::GpuBackend> emulated;
  std::string missing;  // why there is no CUDA device ("" when emulated or found)

  // The emulated GPU, else the CUDA device, else null.
  gpu::GpuBackend* backend() const;
  // "the emulated GPU" / "the CUDA backend", for messages such as "... cannot run this model".
  const char* what() const { return emulated ? "the emulated GPU" : "the CUDA backend"; }
};

// Never fails: a machine without a GPU is a state (found.missing), not an error.
FoundGpu find_gpu(const DeviceRequest& r);

enum class BudgetSource {
  kRequest,      // DeviceRequest::budget
  kUnlimited,    // the emulated GPU with no budget: a full offload
  kDeviceFree,   // the CUDA device's free memory less gpu::kDeviceHeadroomBytes
  kNoDevice,     // no device and no budget: no limit (the plan is only shown)
};

struct DeviceBudget {
  std::optional<uint64_t> bytes;  // nullopt: no limit
  BudgetSource source = BudgetSource::kNoDevice;
  uint64_t device_free = 0;       // kDeviceFree: the free bytes it came from
};

// The budget for a plan (see BudgetSource). `measure_now`: ask the device for its free
// memory now (refresh_memory: other contexts or programs may have taken some since it
// was found); else the free memory it had when found.
Result<DeviceBudget> gpu_budget(const DeviceRequest& r, const FoundGpu& g, bool measure_now);

// The memory plan's settings for context `cfg` (n_ctx, n_seq, KV type, block size).
MemoryPlanConfig gpu_plan_config(const DeviceRequest& r, const DeviceBudget& b, const ContextConfig& cfg);

// What open_runtime is given: g's backend and `plan`, or nothing (CPU only) when the plan
// places nothing or there is no device. cpu_fallback: !r.layers_required().
RuntimeDevice runtime_device(const DeviceRequest& r, const FoundGpu& g, const MemoryPlan* plan);

// Layers placed on a device, or none and why the device refused the model.
struct DevicePlacement {
  DeviceLayers layers;  // empty: CPU only
  std::string refusal;  // the device's kUnsupported message when it fell back to the CPU
};

// place_on_device for d's plan and m, which must be the model the plan was made from.
// Nothing to place (no backend, an empty plan): no layers. The device refuses the model
// as unsupported: with d.cpu_fallback no layers and the refusal, else kUnsupported
// "<device name> cannot run this model: <why>". Other errors (out of memory, a device
// error) pass through. m's device layers may be packed for the CPU or not (a fallback
// over unpacked layers computes the same, slower).
Result<DevicePlacement> place_or_fall_back(const RuntimeDevice& d, const Model& m);

// How to load model `path` for contexts that place r's layers on g. An explicit N > 0
// on a device: the head and the last N layers are not packed for the CPU (every context
// runs them on the device or is refused), saving their host copies. Otherwise (auto,
// CPU only, no device) every layer is packed: any context may end up on the CPU.
Result<ModelLoadOptions> device_load_options(const std::string& path, const DeviceRequest& r, const FoundGpu& g);

// Everything between a loaded model and a context on it (the C API's path; the CLI
// plans before loading instead, to refuse a plan before the load): budget, plan for
// `cfg`, placement with the fallback.
struct ContextDevice {
  std::optional<MemoryPlan> plan;  // made whenever there is a device (may place nothing)
  DeviceLayers layers;             // empty: CPU only
  std::string cpu_reason;          // why nothing runs on the GPU (empty when something does)
};

// With r.gpu_layers == 0 nothing is planned (cpu_reason stays empty: the caller asked).
// Without a device: N > 0 is kUnsupported ("... no GPU: <why>"), auto gives CPU only
// and the reason. Errors: the plan's (kOutOfMemory with the sizes for an N that does
// not fit), the device's (see place_or_fall_back). Not thread-safe for one FoundGpu.
Result<ContextDevice> place_context(const DeviceRequest& r, const FoundGpu& g, const Model& m,
                                    const ContextConfig& cfg);

}  // namespace tandem
