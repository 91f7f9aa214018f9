// Before a run: finds the GPU backend, plans the GPU's memory from the model's header
// and the flags, prints the plan, and says once when Tandem runs on the CPU. A plan
// that cannot fit is refused here, before the model is loaded.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/status.h"
#include "engine/memory_plan.h"
#include "gpu/loader.h"

namespace tandem::cli {

struct GpuSetup {
  std::optional<gpu::LoadedBackend> backend;  // none: CPU only
  std::optional<MemoryPlan> plan;             // made when asked for or when there is a GPU
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

}  // namespace tandem::cli
