// The kernel behind every gemv_<type> of gemv_quant.cuh (nvcc only): one warp per
// output row, the row cut into 32-weight pieces (a legacy block, 32 f16/bf16 values, or
// one eighth of a K-quant super-block). Lane l takes pieces l, l + 32, ...: it
// dequantizes the piece into registers with the type's functor (dequant_legacy.h,
// dequant_k.h) and accumulates its dot with every token's 32 activations; a warp sum
// gives the row's outputs. So all 32 lanes work whenever a row has 32 pieces or more
// (cols >= 1024), e.g. 4 pieces each at cols = 4096, 14 at 14336.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu::detail {

inline constexpr int kGemvWarpsPerBlock = 4;

// w: [rows, cols / (32 * kSubs)] blocks, 16-byte aligned; x: [N, cols] f32, 16-byte
// aligned; y: [N, rows] f32.
template <typename Dequant, int N>
__global__ void __launch_bounds__(32 * kGemvWarpsPerBlock)
    gemv_quant_kernel(const typename Dequant::Block* __restrict__ w, const float* __restrict__ x,
                      float* __restrict__ y, int64_t rows, int64_t cols) {
  using Block = typename Dequant::Block;
  constexpr int kSubs = Dequant::kSubs;
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp leaves together
  const int64_t n_pieces = cols / 32;
  const Block* wr = w + row * (n_pieces / kSubs);
  float acc[N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[t] = 0.f;
  for (int64_t p = lane; p < n_pieces; p += 32) {
    float v[32];
    Dequant{}(wr[p / kSubs], static_cast<int>(p % kSubs), v);
#pragma unroll
    for (int t = 0; t < N; ++t) {
      const float4* xt = reinterpret_cast<const float4*>(x + t * cols + p * 32);
      float s = 0.f;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float4 a = xt[j];
        s += v[4 * j] * a.x + v[4 * j + 1] * a.y + v[4 * j + 2] * a.z + v[4 * j + 3] * a.w;
      }
      acc[t] += s;
    }
  }
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float total = warp_sum(acc[t]);
    if (lane == 0) y[t * rows + row] = total;
  }
}

template <typename Dequant, int N>
cudaError_t launch_gemv_n(const void* w, const float* x, float* y, const GemvShape& s, cudaStream_t stream) {
  const int64_t grid = (s.rows + kGemvWarpsPerBlock - 1) / kGemvWarpsPerBlock;
  gemv_quant_kernel<Dequant, N><<<static_cast<unsigned>(grid), 32 * kGemvWarpsPerBlock, 0, stream>>>(
      static_cast<const typename Dequant::Block*>(w), x, y, s.rows, s.cols);
  return cudaGetLastError();
}

// Checks the shape and the alignments the loads rely on, then a plain switch over the
// token count (each count is its own kernel, so the accumulators stay in registers).
template <typename Dequant>
cudaError_t launch_gemv(const void* w, const float* x, float* y, const GemvShape& s, cudaStream_t stream) {
  constexpr int64_t kBlockElems = 32 * Dequant::kSubs;
  if (s.rows < 0 || s.cols < 0 || s.cols % kBlockElems != 0) return cudaErrorInvalidValue;
  if ((s.rows + kGemvWarpsPerBlock - 1) / kGemvWarpsPerBlock > 0x7fffffff) return cudaErrorInvalidValue;
  if (s.rows == 0) return cudaSuccess;
  if (reinterpret_cast<uintptr_t>(w) % 16 != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0)
    return cudaErrorInvalidValue;
  switch (s.n_tokens) {
    case 1: return launch_gemv_n<Dequant, 1>(w, x, y, s, stream);
    case 2: return launch_gemv_n<Dequant, 2>(w, x, y, s, stream);
    case 3: return launch_gemv_n<Dequant, 3>(w, x, y, s, stream);
    case 4: return launch_gemv_n<Dequant, 4>(w, x, y, s, stream);
    case 5: return launch_gemv_n<Dequant, 5>(w, x, y, s, stream);
    case 6: return launch_gemv_n<Dequant, 6>(w, x, y, s, stream);
    case 7: return launch_gemv_n<Dequant, 7>(w, x, y, s, stream);
    case 8: return launch_gemv_n<Dequant, 8>(w, x, y, s, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace tandem::gpu::detail
