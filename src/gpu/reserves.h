// Fixed amounts of device memory the memory plan sets aside beside weights, KV cache
// and activations. CPU-side constants, so the planner needs no CUDA headers.
#pragma once

#include <cstdint>

namespace tandem::gpu {

// cublasSetWorkspace: NVIDIA recommends 32 MiB on Hopper and 4 MiB before it; one
// size for every GPU keeps plans comparable.
inline constexpr uint64_t kCublasWorkspaceBytes = uint64_t{32} << 20;
// CUDA graphs of decode steps (gpu/cuda/graph_cache.h): the driver allocates device
// memory for an instantiated graph (its nodes' launch records and parameters) outside
// our allocator. The plan sets kCudaGraphReserveBytes aside; the CUDA executor allocates
// it with the rest of the plan (so a plan that fits is known to fit), hands it straight
// back to the driver, and caches graphs only while their estimated memory,
//   kCudaGraphBaseBytes + nodes x kCudaGraphNodeBytes per graph,
// fits in it; other decode shapes run their kernels one by one. The estimate is a
// conservative guess until measured (ExecutorStats::graph_measured_bytes): a report of
// ~64 KiB of device memory per kernel node (nvidia-smi, driver 470, graphs of 500-2000
// empty kernels). A decode step's graph has 16 to 20 kernel nodes per layer
// (cuda_forward.cpp: biases, the split-K merge), so 64 MiB holds one graph of about 50
// layers, or several of fewer.
inline constexpr uint64_t kCudaGraphReserveBytes = uint64_t{64} << 20;
inline constexpr uint64_t kCudaGraphNodeBytes = uint64_t{64} << 10;
inline constexpr uint64_t kCudaGraphBaseBytes = uint64_t{1} << 20;
// Left free when the budget comes from the device (no --gpu-mem): what cudaMalloc's
// 2 MiB page rounding, cuBLAS' own handles and later contexts may take beyond the plan.
inline constexpr uint64_t kDeviceHeadroomBytes = uint64_t{512} << 20;

}  // namespace tandem::gpu

namespace tandem::gpu {

// Batches of up to this many tokens run the dequantizing GEMV kernels straight from the
// quantized weights (gemv_quant.cuh's kGemvMaxTokens); larger ones dequantize a matrix
// to f16 into a workspace and call cuBLAS.
inline constexpr int32_t kGemvMaxBatch = 8;

}  // namespace tandem::gpu
