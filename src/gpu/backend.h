// The engine's view of a GPU backend, and the C entry points a backend library exports.
//
// The CUDA backend lives in libtandem_cuda.so, which alone links the CUDA runtime and
// cuBLAS. The engine never links it: gpu/loader.h dlopens it at run time, resolves
// tandem_gpu_abi_version and tandem_cuda_create with dlsym, checks the version and gets
// a GpuBackend. Without the library, a driver or a device, Tandem runs on the CPU.
//
// The interface crosses a shared-library boundary as a C++ vtable, so the library and
// the program must come from the same build (same compiler, same headers):
// kGpuBackendAbi changes whenever this file, DeviceInfo, Allocator or the executor
// (gpu/executor.h) changes, and the loader refuses a library that reports another version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"
#include "gpu/allocator.h"
#include "gpu/device_info.h"
#include "gpu/executor.h"

namespace tandem::gpu {

inline constexpr uint32_t kGpuBackendAbi = 3;  // 2: create_executor; 3: chunk-input and attention-scratch slots, graphs, stats()

class GpuBackend {
 public:
  virtual ~GpuBackend() = default;

  // The device this backend drives (fixed at creation; free_bytes as of then).
  virtual const DeviceInfo& device() const = 0;
  // Free and total device memory now.
  virtual Result<DeviceInfo> refresh_memory() = 0;
  // An allocator over this device's memory that never holds more than `budget` bytes
  // at once (the plan's total, or --gpu-mem).
  virtual Result<std::unique_ptr<Allocator>> make_allocator(uint64_t budget) = 0;
  // An executor of desc's layers (gpu/executor.h): makes desc.allocations through
  // `alloc` (which must outlive the executor, as must this backend) and uploads the
  // weights. kOutOfMemory when the allocator refuses (everything made so far is freed),
  // kInvalidArgument for a bad desc (check_executor_desc), kUnsupported where the
  // backend has no executor yet.
  virtual Result<std::unique_ptr<GpuExecutor>> create_executor(const ExecutorDesc& desc, Allocator& alloc) = 0;
};

}  // namespace tandem::gpu

// What tandem_cuda_create gets. A struct, so later versions can add fields at the end.
struct tandem_gpu_create_args {
  uint32_t abi_version;  // kGpuBackendAbi of the caller
  int32_t device;        // CUDA device index
  char* error;           // on failure: a NUL-terminated reason (truncated to fit)
  size_t error_capacity;
};

extern "C" {
// The backend ABI the library was built with: the loader compares it first.
using tandem_gpu_abi_version_fn = uint32_t (*)();
// A new backend for args->device, owned by the caller (delete it), or null with the
// reason in args->error (no device, driver too old, ABI mismatch...).
using tandem_cuda_create_fn = tandem::gpu::GpuBackend* (*)(const tandem_gpu_create_args* args);
}

namespace tandem::gpu {
inline constexpr const char* kAbiVersionSymbol = "tandem_gpu_abi_version";
inline constexpr const char* kCreateSymbol = "tandem_cuda_create";
inline constexpr const char* kCudaLibraryName = "libtandem_cuda.so";
}  // namespace tandem::gpu
