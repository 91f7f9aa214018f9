#include "gpu/cuda/kernel_util.cuh"
#include "gpu/cuda/rms_norm.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

// One block per row. No __restrict__: y may alias x (each element is read, then
// written, by the same thread, after the whole row was summed).
template <typename T>
__global__ void rms_norm_kernel(const T* x, const float* w, T* y, int64_t cols, float eps) {
  const T* xr = x + blockIdx.x * cols;
  T* yr = y + blockIdx.x * cols;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = detail::to_f32(xr[i]);
    sum += v * v;
  }
  sum = detail::block_sum(sum);
  const float scale = 1.0f / sqrtf(sum / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
    yr[i] = detail::from_f32<T>(detail::to_f32(xr[i]) * scale * w[i]);
}

template <typename T>
cudaError_t launch(const T* x, const float* w, T* y, RowShape s, float eps, cudaStream_t stream) {
  if (s.rows == 0 || s.cols == 0) return cudaSuccess;
  if (s.rows < 0 || s.cols < 0 || s.rows > 0x7fffffff) return cudaErrorInvalidValue;
  rms_norm_kernel<T><<<static_cast<unsigned>(s.rows), kThreads, 0, stream>>>(x, w, y, s.cols, eps);
  return cudaGetLastError();
}

}  // namespace

cudaError_t rms_norm_f32(const float* x, const float* w, float* y, RowShape s, float eps, cudaStream_t stream) {
  return launch(x, w, y, s, eps, stream);
}

cudaError_t rms_norm_f16(const __half* x, const float* w, __half* y, RowShape s, float eps, cudaStream_t stream) {
  return launch(x, w, y, s, eps, stream);
}

}  // namespace tandem::gpu
