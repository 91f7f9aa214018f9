// CUDA and cuBLAS failures as Tandem errors that say which call failed, with which
// sizes, where (file:line) and why (the runtime's name and text for the code):
//   if (cudaError_t e = cudaMalloc(&p, n); e != cudaSuccess)
//     return cuda_error(e, "cudaMalloc", std::to_string(n) + " bytes for " + what);
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <source_location>
#include <string_view>

#include "core/status.h"

namespace tandem::gpu {

// "cudaMalloc(1048576 bytes for blk.3 weights) failed at src/gpu/cuda/cuda_allocator.cpp:31:
//  out of memory (cudaErrorMemoryAllocation = 2)". Code: kOutOfMemory for allocation
// failures, kUnsupported for a missing device or a driver too old, kInternal otherwise.
Error cuda_error(cudaError_t e, std::string_view call, std::string_view detail = {},
                 std::source_location where = std::source_location::current());
Error cublas_error(cublasStatus_t s, std::string_view call, std::string_view detail = {},
                   std::source_location where = std::source_location::current());

// Status of a CUDA call: ok for cudaSuccess, else cuda_error(...).
Status cuda_status(cudaError_t e, std::string_view call, std::string_view detail = {},
                   std::source_location where = std::source_location::current());

}  // namespace tandem::gpu
