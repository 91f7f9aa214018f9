// A kernel launch's status whose message is built only when it failed: `detail` is a
// callable returning the sizes as a std::string, so the checks on the decode path (a
// dozen launches per layer per token) allocate nothing when all is well.
//   TANDEM_TRY(launch_status(rope_f32(x, a, s), "rope_f32", [&] { return shape(a); }));
#pragma once

#include <cuda_runtime.h>

#include <source_location>
#include <string>

#include "core/status.h"
#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

template <typename Detail>
Status launch_status(cudaError_t e, const char* call, Detail&& detail,
                     std::source_location where = std::source_location::current()) {
  if (e == cudaSuccess) return Status::ok();
  const std::string d = detail();
  return cuda_error(e, call, d, where);
}

}  // namespace tandem::gpu
