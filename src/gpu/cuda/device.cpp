#include "gpu/cuda/device.h"

#include <string>

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<int32_t> device_count() {
  int n = 0;
  if (cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) {
    Error err = cuda_error(e, "cudaGetDeviceCount");
    return Error(Code::kUnsupported, err.message());
  }
  if (n <= 0) return Error(Code::kUnsupported) << "cudaGetDeviceCount found no CUDA device";
  return static_cast<int32_t>(n);
}

Result<DeviceInfo> query_device(int32_t ordinal) {
  TANDEM_ASSIGN_OR_RETURN(const int32_t n, device_count());
  if (ordinal < 0 || ordinal >= n)
    return Error(Code::kInvalidArgument) << "CUDA device " << ordinal << " does not exist (" << n << " found)";
  const std::string which = "device " + std::to_string(ordinal);
  TANDEM_TRY(cuda_status(cudaSetDevice(ordinal), "cudaSetDevice", which));
  cudaDeviceProp p{};
  TANDEM_TRY(cuda_status(cudaGetDeviceProperties(&p, ordinal), "cudaGetDeviceProperties", which));
  DeviceInfo d;
  d.ordinal = ordinal;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.sm_count = p.multiProcessorCount;
  size_t free_b = 0, total_b = 0;
  TANDEM_TRY(cuda_status(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo", which));
  d.free_bytes = free_b;
  d.total_bytes = total_b;
  int v = 0;
  TANDEM_TRY(cuda_status(cudaDriverGetVersion(&v), "cudaDriverGetVersion"));
  d.driver_version = v;
  TANDEM_TRY(cuda_status(cudaRuntimeGetVersion(&v), "cudaRuntimeGetVersion"));
  d.runtime_version = v;
  return d;
}

}  // namespace tandem::gpu
