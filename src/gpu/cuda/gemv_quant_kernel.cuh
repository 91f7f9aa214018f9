// The kernel behind gemv_q8_0 / gemv_q4_0 (nvcc only): one warp per output row. Lane l
// takes blocks l, l + 32, ... of the row (a warp reads 32 consecutive blocks at once),
// dequantizes each block's 32 weights into registers and accumulates their dot with
// every token's 32 activations; a warp sum gives the row's outputs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu::detail {

inline constexpr int kGemvWarpsPerBlock = 4;

// Dequant: a functor `void operator()(const Block&, float v[32]) const`.
template <typename Block, typename Dequant, int N>
__global__ void gemv_quant_kernel(const Block* __restrict__ w, const float* __restrict__ x, float* __restrict__ y,
                                  int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp leaves together
  const int64_t n_blocks = cols / 32;
  const Block* wr = w + row * n_blocks;
  float acc[N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[t] = 0.f;
  for (int64_t b = lane; b < n_blocks; b += 32) {
    float v[32];
    Dequant{}(wr[b], v);
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const float* xt = x + t * cols + b * 32;
      float s = 0.f;
#pragma unroll
      for (int j = 0; j < 32; ++j) s += v[j] * xt[j];
      acc[t] += s;
    }
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float total = warp_sum(acc[t]);
    if (lane == 0) y[t * rows + row] = total;
  }
}

template <typename Block, typename Dequant, int N>
cudaError_t launch_gemv_n(const void* w, const float* x, float* y, const GemvShape& s, cudaStream_t stream) {
  const int64_t grid = (s.rows + kGemvWarpsPerBlock - 1) / kGemvWarpsPerBlock;
  gemv_quant_kernel<Block, Dequant, N><<<static_cast<unsigned>(grid), 32 * kGemvWarpsPerBlock, 0, stream>>>(
      static_cast<const Block*>(w), x, y, s.rows, s.cols);
  return cudaGetLastError();
}

// Checks the shape, then a plain switch over the token count (each count is its own
// kernel, so the accumulators stay in registers).
template <typename Block, typename Dequant>
cudaError_t launch_gemv(const void* w, const float* x, float* y, const GemvShape& s, cudaStream_t stream) {
  if (s.rows < 0 || s.cols < 0 || s.cols % 32 != 0) return cudaErrorInvalidValue;
  if ((s.rows + kGemvWarpsPerBlock - 1) / kGemvWarpsPerBlock > 0x7fffffff) return cudaErrorInvalidValue;
  if (s.rows == 0) return cudaSuccess;
  switch (s.n_tokens) {
    case 1: return launch_gemv_n<Block, Dequant, 1>(w, x, y, s, stream);
    case 2: return launch_gemv_n<Block, Dequant, 2>(w, x, y, s, stream);
    case 3: return launch_gemv_n<Block, Dequant, 3>(w, x, y, s, stream);
    case 4: return launch_gemv_n<Block, Dequant, 4>(w, x, y, s, stream);
    case 5: return launch_gemv_n<Block, Dequant, 5>(w, x, y, s, stream);
    case 6: return launch_gemv_n<Block, Dequant, 6>(w, x, y, s, stream);
    case 7: return launch_gemv_n<Block, Dequant, 7>(w, x, y, s, stream);
    case 8: return launch_gemv_n<Block, Dequant, 8>(w, x, y, s, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace tandem::gpu::detail
