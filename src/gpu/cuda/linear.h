// The executor's matrix products, y [n, rows] = x [n, cols] . W^T, with the kernel
// picked by the weight type and the number of token rows:
//  - f32 weights: cublasSgemm (f32 inputs, f32 sums, no TF32: the handle stays in
//    CUBLAS_DEFAULT_MATH), any n;
//  - other types, n <= kGemvMaxTokens: the dequantizing GEMV (gemv_quant.cuh), f32
//    activations and sums, each weight the reference's float;
//  - other types, n > kGemvMaxTokens: gemm_quant (gemm_quant.h): W dequantized to f16
//    panel by panel and x converted to f16, cublasGemmEx with f32 sums; where the plan
//    gave no dequantization workspace (max_batch <= kGemvMaxBatch, so this happens
//    only for a caller past the plan), the GEMV in slices of kGemvMaxTokens rows.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "gpu/cuda/gemm_quant.h"

namespace tandem::gpu {

// A weight matrix on the device: [rows, cols] of `type` as GGUF stores it (16-byte
// aligned: the plan puts every tensor at a 256-byte offset).
struct DeviceMatrix {
  const void* w = nullptr;
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
};

// Where products run: the stream, a cuBLAS handle bound to it (set_stream, then
// set_workspace; host pointer mode), and the plan's dequantization workspace (absent:
// null pointers).
struct LinearLane {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  GemmWorkspace ws;
};

// Why a matrix of `type` with rows of `cols` cannot be multiplied here, or nullptr
// (f16 and bf16 rows must be a multiple of 32 long for the GEMV).
const char* linear_problem(DType type, int64_t cols);

// x: device, [n, cols] f32, 16-byte aligned; y: device, [n, rows] f32 (overwritten).
// Errors name the call, the matrix shape and type and the token count.
Status linear(const LinearLane& lane, const DeviceMatrix& w, const float* x, int64_t n, float* y);

}  // namespace tandem::gpu
