// Before a run: finds the GPU backend, plans the GPU's memory from the model's header
// and the flags, prints the plan, and says once when Tandem runs on the CPU. A plan
// that cannot fit is refused here, before the model is loaded.
//
// --gpu-emulate (or TANDEM_GPU_EMULATE=1) skips the CUDA library altogether and runs the
// plan on an emulated GPU (engine/emulated_gpu.h); without --gpu-mem the emulated GPU
// has no budget (a full offload).
//
// A GPU that cannot run the model (its backend refuses it as unsupported: a weight type
// or KV layout its kernels cannot take) leaves the whole model to the CPU, said once on
// stderr, unless --gpu-layers asked for layers there (open_runtime_on).
//
// The decisions (which GPU, the budget, the plan's settings, the fallback) are
// engine/device_setup.h's, shared with the C API; this file turns the flags into a
// DeviceRequest and says what happened.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/status.h"
#include "engine/device_setup.h"
#include "engine/memory_plan.h"
#include "engine/runtime.h"

namespace tandem::cli {

// What setup_gpu found and planned (engine/device_setup.h does the work; this room
// parses the flags and prints).
struct GpuSetup {
  DeviceRequest request;          // the flags, parsed
  FoundGpu gpu;                   // the emulated GPU, a CUDA device, or none
  std::optional<MemoryPlan> plan; // made when asked for or when there is a GPU
  std::string refused;            // why the GPU refused the model (open_runtime_on ran it on the CPU)

  // The backend that runs the plan's device part (the emulated GPU, else the CUDA
  // device), with the plan; empty (CPU only) when nothing is placed, there is no GPU or
  // the GPU refused the model.
  RuntimeDevice device() const;
  // Layers placed on the device by the plan (0: CPU only), for reports.
  int32_t device_layers() const;
};

struct GpuRequest {
  std::string model;
  GpuOptions gpu;
  int32_t ctx = 0;
  std::string kv_type = "f16";
  int32_t n_seq = 1;
};

// `force_plan`: plan even with no GPU and no GPU flag (inspect --plan). The plan goes
// to `plan_out`; the "no CUDA device (...); running on the CPU" line to stderr.
Result<GpuSetup> setup_gpu(const GpuRequest& r, bool force_plan, std::FILE* plan_out);

// open_runtime on s.device(). When the GPU refuses the model as unsupported: without
// --gpu-layers N > 0 the whole model runs on the CPU, s.refused says why and stderr gets
// "tandem: the CUDA backend cannot run this model (<why>); running on the CPU"; with it,
// the refusal is the error. Other failures (out of memory, a bad plan, a CUDA error) are
// errors either way.
Result<Runtime> open_runtime_on(GpuSetup& s, const std::string& model, const ContextConfig& cfg);

}  // namespace tandem::cli
