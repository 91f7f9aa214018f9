// What Tandem knows of a GPU: filled by the CUDA backend (cudaGetDeviceProperties,
// cudaMemGetInfo), read by the engine and printed by the CLI. No CUDA types here.
#pragma once

#include <cstdint>
#include <string>

namespace tandem::gpu {

struct DeviceInfo {
  int32_t ordinal = 0;           // CUDA device index
  std::string name;              // "NVIDIA H100 80GB HBM3"
  int32_t cc_major = 0;          // compute capability, 7.5 for a T4, 9.0 for an H100
  int32_t cc_minor = 0;
  int32_t sm_count = 0;          // multiprocessors
  uint64_t total_bytes = 0;      // device memory
  uint64_t free_bytes = 0;       // free when queried (after the CUDA context was made)
  int32_t driver_version = 0;    // cudaDriverGetVersion, 13000 = 13.0
  int32_t runtime_version = 0;   // cudaRuntimeGetVersion of the library Tandem was built with
};

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.19 GiB, 78.60 GiB free)".
std::string describe(const DeviceInfo& d);

}  // namespace tandem::gpu
