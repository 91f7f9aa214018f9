// An emulated GPU: a GpuBackend whose "device memory" is host memory handed out by a
// budgeted gpu::HostMemoryAllocator, and whose executor runs the device's layers with
// the CPU reference ops (cpu::gemv_ref, rms_norm_ref, rope_ref, silu_mul_ref,
// attention_decode_ref; single-threaded f32). It lets the placement path (plan,
// allocation, upload, the hand-over of the hidden state, a paged KV cache kept apart
// from the CPU's, logits coming back) run and be tested on a machine without a GPU,
// and its results come from a different code path than the Context's fast kernels,
// as a real GPU's would.
//
// Selected by `--gpu-emulate` or TANDEM_GPU_EMULATE=1 (src/cli reads them). Slow: the
// reference kernels are for checking, not for speed. Made with a refusal (the CLI's
// TANDEM_GPU_EMULATE_REFUSE=WHY), it refuses every model as a CUDA backend refuses one
// its kernels cannot take (kUnsupported, before allocating anything), so the CPU
// fallback can be tested without a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "gpu/backend.h"

namespace tandem {

class EmulatedGpuBackend final : public gpu::GpuBackend {
 public:
  // `refusal` non-empty: create_executor refuses every model, kUnsupported with that text.
  explicit EmulatedGpuBackend(std::string refusal = {});

  // "emulated GPU (host memory, reference kernels)"; memory: the host's physical memory.
  const gpu::DeviceInfo& device() const override { return info_; }
  Result<gpu::DeviceInfo> refresh_memory() override { return info_; }
  // A gpu::HostMemoryAllocator with this budget.
  Result<std::unique_ptr<gpu::Allocator>> make_allocator(uint64_t budget) override;
  // Allocates desc.allocations through `alloc`, copies the weights in, and runs layers
  // and head with the reference ops (see above); or refuses (see the constructor).
  Result<std::unique_ptr<gpu::GpuExecutor>> create_executor(const gpu::ExecutorDesc& desc,
                                                            gpu::Allocator& alloc) override;

 private:
  gpu::DeviceInfo info_;
  std::string refusal_;
};

}  // namespace tandem
