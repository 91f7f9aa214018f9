// A GPU backend library with no GPU behind it, for the loader's tests: it exports the
// same entry points as libtandem_cuda.so and hands out a FakeDeviceAllocator. Built
// twice: as itself and with TANDEM_FAKE_ABI=999 (a library from another build).
#include <cstdio>
#include <memory>
#include <string>

#include "gpu/backend.h"
#include "gpu/fake_allocator.h"

#ifndef TANDEM_FAKE_ABI
#define TANDEM_FAKE_ABI tandem::gpu::kGpuBackendAbi
#endif

namespace {

constexpr uint64_t kFakeMemory = uint64_t{16} << 30;

class FakeBackend final : public tandem::gpu::GpuBackend {
 public:
  explicit FakeBackend(int32_t ordinal) {
    info_.ordinal = ordinal;
    info_.name = "Fake GPU";
    info_.cc_major = 7;
    info_.cc_minor = 5;
    info_.sm_count = 40;
    info_.total_bytes = kFakeMemory;
    info_.free_bytes = kFakeMemory - (uint64_t{300} << 20);
  }
  const tandem::gpu::DeviceInfo& device() const override { return info_; }
  tandem::Result<tandem::gpu::DeviceInfo> refresh_memory() override { return info_; }
  tandem::Result<std::unique_ptr<tandem::gpu::Allocator>> make_allocator(uint64_t budget) override {
    return std::unique_ptr<tandem::gpu::Allocator>(
        new tandem::gpu::FakeDeviceAllocator(info_.free_bytes, budget, "fake GPU " + std::to_string(info_.ordinal)));
  }
  // A fake device cannot hold weights it could compute with.
  tandem::Result<std::unique_ptr<tandem::gpu::GpuExecutor>> create_executor(const tandem::gpu::ExecutorDesc&,
                                                                           tandem::gpu::Allocator&) override {
    return tandem::Error(tandem::Code::kUnsupported) << "the fake backend runs no layers";
  }

 private:
  tandem::gpu::DeviceInfo info_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) uint32_t tandem_gpu_abi_version() { return TANDEM_FAKE_ABI; }

extern "C" __attribute__((visibility("default"))) tandem::gpu::GpuBackend* tandem_cuda_create(
    const tandem_gpu_create_args* args) {
  if (args->device != 0) {
    std::snprintf(args->error, args->error_capacity, "fake backend: no device %d (1 found)", args->device);
    return nullptr;
  }
  return new FakeBackend(args->device);
}
