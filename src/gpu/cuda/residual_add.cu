#include "gpu/cuda/kernel_util.cuh"
#include "gpu/cuda/residual_add.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void residual_add_kernel(const T* a, const T* b, T* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = detail::from_f32<T>(detail::to_f32(a[i]) + detail::to_f32(b[i]));
}

template <typename T>
cudaError_t launch(const T* a, const T* b, T* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (n < 0) return cudaErrorInvalidValue;
  residual_add_kernel<T><<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(a, b, y, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t residual_add_f32(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream) {
  return launch(a, b, y, n, stream);
}

cudaError_t residual_add_f16(const __half* a, const __half* b, __half* y, int64_t n, cudaStream_t stream) {
  return launch(a, b, y, n, stream);
}

}  // namespace tandem::gpu
