// Device discovery: how many CUDA devices there are and what each one is.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "gpu/device_info.h"

namespace tandem::gpu {

// cudaGetDeviceCount; kUnsupported when it fails (no driver, driver too old) or finds
// none, with the runtime's reason.
Result<int32_t> device_count();
// Name, compute capability, SM count, total and free memory, driver and runtime
// versions. Makes `ordinal` the current device (cudaSetDevice): free memory is
// measured after its context exists.
Result<DeviceInfo> query_device(int32_t ordinal);

}  // namespace tandem::gpu
