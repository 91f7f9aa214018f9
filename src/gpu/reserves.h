// Fixed amounts of device memory the memory plan sets aside beside weights, KV cache
// and activations. CPU-side constants, so the planner needs no CUDA headers.
#pragma once

#include <cstdint>

namespace tandem::gpu {

// cublasSetWorkspace: NVIDIA recommends 32 MiB on Hopper and 4 MiB before it; one
// size for every GPU keeps plans comparable.
inline constexpr uint64_t kCublasWorkspaceBytes = uint64_t{32} << 20;
// Instantiated CUDA graphs (one per decode batch size) keep their nodes' parameters
// and memory-pool state on the device; an estimate until measured on each GPU.
inline constexpr uint64_t kCudaGraphReserveBytes = uint64_t{64} << 20;
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
