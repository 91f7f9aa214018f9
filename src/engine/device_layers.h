// The layers a memory plan puts on a device, made real: the executor's description
// built from the plan and the loaded model (every tensor, KV pool and activation buffer
// at the slot the plan gave it), then one allocator holding exactly the plan and an
// executor with the weights uploaded. The Context runs the CPU layers and hands the
// rest to the executor (engine/context.h).
#pragma once

#include <memory>

#include "core/status.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "gpu/allocator.h"
#include "gpu/backend.h"
#include "gpu/executor.h"

namespace tandem {

// An executor and the allocator its device memory came from. The executor is destroyed
// first (it returns its buffers to the allocator). Move-only; empty: no device.
struct DeviceLayers {
  std::unique_ptr<gpu::Allocator> allocator;   // budget: the plan's total
  std::unique_ptr<gpu::GpuExecutor> executor;

  DeviceLayers() = default;
  DeviceLayers(DeviceLayers&& o) noexcept = default;
  DeviceLayers& operator=(DeviceLayers&& o) noexcept {
    if (this == &o) return *this;
    executor.reset();  // before its allocator goes
    allocator = std::move(o.allocator);
    executor = std::move(o.executor);
    return *this;
  }
  ~DeviceLayers() { executor.reset(); }
  explicit operator bool() const { return executor != nullptr; }
};

// The executor's view of plan `p` for model `m` (which must be the model the plan was
// made from: every planned tensor is looked up by name and checked for its size).
// kInternal when a part of the plan has no place in the executor or a tensor differs.
Result<gpu::ExecutorDesc> executor_desc(const MemoryPlan& p, const Model& m);

// Allocates plan `p` on `backend` (an allocator whose budget is p.total(), so nothing
// beyond the plan can be allocated) and uploads m's weights. `p` must place something
// (p.items non-empty). Errors from the backend pass through (kOutOfMemory, kUnsupported).
Result<DeviceLayers> place_on_device(gpu::GpuBackend& backend, const MemoryPlan& p, const Model& m);

}  // namespace tandem
