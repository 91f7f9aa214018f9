// The CUDA implementation of GpuBackend, and the C entry points loader.cpp resolves
// with dlsym. Nothing here may throw across the boundary.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "gpu/backend.h"
#include "gpu/cuda/cuda_allocator.h"
#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/cuda_executor.h"
#include "gpu/cuda/device.h"

namespace tandem::gpu {
namespace {

// TANDEM_CUDA_GRAPHS=0 turns CUDA graphs off for every executor of the backend (read
// once, when the backend is made); anything else, or unset, leaves them to desc.graphs.
bool graphs_allowed_by_environment() {
  const char* v = std::getenv("TANDEM_CUDA_GRAPHS");
  return v == nullptr || std::string_view(v) != "0";
}

class CudaBackend final : public GpuBackend {
 public:
  explicit CudaBackend(DeviceInfo d) : info_(std::move(d)) { options_.graphs = graphs_allowed_by_environment(); }

  const DeviceInfo& device() const override { return info_; }

  Result<DeviceInfo> refresh_memory() override {
    TANDEM_TRY(cuda_status(cudaSetDevice(info_.ordinal), "cudaSetDevice", std::to_string(info_.ordinal)));
    size_t free_b = 0, total_b = 0;
    TANDEM_TRY(cuda_status(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo"));
    DeviceInfo d = info_;
    d.free_bytes = free_b;
    d.total_bytes = total_b;
    return d;
  }

  Result<std::unique_ptr<Allocator>> make_allocator(uint64_t budget) override {
    const std::string name = "GPU " + std::to_string(info_.ordinal) + " (" + info_.name + ")";
    return std::unique_ptr<Allocator>(new CudaAllocator(info_.ordinal, budget, name));
  }

  // cuda_executor.h: desc.allocations through `alloc`, weights uploaded through pinned
  // staging on the executor's stream, layers run with the kernels of this directory,
  // decode steps replayed as CUDA graphs unless the environment said no.
  Result<std::unique_ptr<GpuExecutor>> create_executor(const ExecutorDesc& desc, Allocator& alloc) override {
    if (dynamic_cast<CudaAllocator*>(&alloc) == nullptr)
      return Error(Code::kInvalidArgument) << "the CUDA executor needs device memory: " << alloc.name()
                                           << " is not this backend's allocator (make_allocator gives one)";
    try {
      return create_cuda_executor(desc, alloc, info_, options_);
    } catch (const std::exception& e) {  // bad_alloc of a host vector: never across the dlopen boundary
      return Error(Code::kOutOfMemory) << "CUDA executor: " << e.what();
    }
  }

 private:
  DeviceInfo info_;
  CudaExecutorOptions options_;
};

void set_reason(const tandem_gpu_create_args* a, const std::string& why) {
  if (a->error != nullptr && a->error_capacity > 0) std::snprintf(a->error, a->error_capacity, "%s", why.c_str());
}

}  // namespace
}  // namespace tandem::gpu

extern "C" __attribute__((visibility("default"))) uint32_t tandem_gpu_abi_version() {
  return tandem::gpu::kGpuBackendAbi;
}

extern "C" __attribute__((visibility("default"))) tandem::gpu::GpuBackend* tandem_cuda_create(
    const tandem_gpu_create_args* args) {
  using namespace tandem::gpu;
  if (args == nullptr) return nullptr;
  if (args->abi_version != kGpuBackendAbi) {
    set_reason(args, "libtandem_cuda.so has GPU backend ABI " + std::to_string(kGpuBackendAbi) +
                         ", the caller " + std::to_string(args->abi_version));
    return nullptr;
  }
  try {
    auto info = query_device(args->device);
    if (!info) {
      set_reason(args, info.error().message());
      return nullptr;
    }
    return new CudaBackend(std::move(*info));
  } catch (const std::exception& e) {  // bad_alloc and the like: never across the C boundary
    set_reason(args, std::string("CUDA backend: ") + e.what());
    return nullptr;
  }
}
