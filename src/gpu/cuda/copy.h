// Checked copies between host and device memory on a stream (asynchronous: the host
// side must stay alive, and pinned for true overlap, until the stream reaches them).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"

namespace tandem::gpu {

Status copy_to_device(void* dst, const void* src, uint64_t bytes, cudaStream_t stream);
Status copy_to_host(void* dst, const void* src, uint64_t bytes, cudaStream_t stream);
Status copy_on_device(void* dst, const void* src, uint64_t bytes, cudaStream_t stream);

}  // namespace tandem::gpu
