// dequantize_rows_to_f16 and convert_f32_to_f16 (dequantize_f16.cuh): one thread per
// 32-weight piece, decoded by the type's functor and stored as 64 bytes of halves
// (dequant_f16.h); a plain switch picks the functor. One kernel per type, nothing more.
#include "gpu/cuda/dequantize_f16.cuh"

#include "gpu/cuda/dequant_f16.h"
#include "gpu/cuda/dequant_k.h"
#include "gpu/cuda/dequant_legacy.h"
#include "gpu/cuda/gemm_plan.h"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

// w: [*, cols / (32 kSubs)] blocks; out: [n_rows, cols] halves as uint4 (8 halves each).
template <typename Dequant>
__global__ void __launch_bounds__(kThreads)
    dequant_f16_kernel(const typename Dequant::Block* __restrict__ w, int64_t row_begin, int64_t n_rows,
                       int64_t cols, uint4* __restrict__ out) {
  const int64_t pieces_per_row = cols / 32;
  const int64_t blocks_per_row = pieces_per_row / Dequant::kSubs;
  const int64_t n = n_rows * pieces_per_row;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; p < n; p += stride) {
    uint32_t h[16];
    dequant_piece_f16<Dequant>(w, blocks_per_row, row_begin + p / pieces_per_row, p % pieces_per_row, h);
    uint4* o = out + p * 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) o[i] = make_uint4(h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3]);
  }
}

template <typename Dequant>
cudaError_t launch(const void* w, int64_t row_begin, int64_t n_rows, int64_t cols, uint16_t* out,
                   cudaStream_t stream) {
  if (cols % (32 * Dequant::kSubs) != 0) return cudaErrorInvalidValue;
  const int64_t n = n_rows * (cols / 32);
  if (n == 0) return cudaSuccess;
  dequant_f16_kernel<Dequant><<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(
      static_cast<const typename Dequant::Block*>(w), row_begin, n_rows, cols, reinterpret_cast<uint4*>(out));
  return cudaGetLastError();
}

__global__ void __launch_bounds__(kThreads) f32_to_f16_kernel(const float* __restrict__ x, int64_t n,
                                                              __half* __restrict__ out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    out[i] = __float2half_rn(x[i]);
}

}  // namespace

cudaError_t dequantize_rows_to_f16(DType type, const void* w, int64_t row_begin, int64_t n_rows, int64_t cols,
                                   uint16_t* out, cudaStream_t stream) {
  if (row_begin < 0 || n_rows < 0 || cols < 0 || !dequant_f16_supported(type)) return cudaErrorInvalidValue;
  if (n_rows > 0 && cols > 0 && (reinterpret_cast<uintptr_t>(w) % 16 != 0 || reinterpret_cast<uintptr_t>(out) % 16 != 0))
    return cudaErrorInvalidValue;
  switch (type) {
    case DType::kQ4_0: return launch<DequantQ4_0>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ4_1: return launch<DequantQ4_1>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ5_0: return launch<DequantQ5_0>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ5_1: return launch<DequantQ5_1>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ8_0: return launch<DequantQ8_0>(w, row_begin, n_rows, cols, out, stream);
    case DType::kF16: return launch<DequantF16>(w, row_begin, n_rows, cols, out, stream);
    case DType::kBF16: return launch<DequantBF16>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ2_K: return launch<DequantQ2_K>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ3_K: return launch<DequantQ3_K>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ4_K: return launch<DequantQ4_K>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ5_K: return launch<DequantQ5_K>(w, row_begin, n_rows, cols, out, stream);
    case DType::kQ6_K: return launch<DequantQ6_K>(w, row_begin, n_rows, cols, out, stream);
    default: return cudaErrorInvalidValue;
  }
}

cudaError_t convert_f32_to_f16(const float* x, int64_t n, uint16_t* out, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  f32_to_f16_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(x, n, reinterpret_cast<__half*>(out));
  return cudaGetLastError();
}

}  // namespace tandem::gpu
