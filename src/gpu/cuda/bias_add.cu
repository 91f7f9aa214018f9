#include "gpu/cuda/bias_add.cuh"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

__global__ void bias_add_kernel(float* y, const float* bias, int64_t n, int64_t cols) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] += bias[i % cols];
}

}  // namespace

cudaError_t bias_add_f32(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows < 0 || cols < 0) return cudaErrorInvalidValue;
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  if (y == nullptr || bias == nullptr) return cudaErrorInvalidValue;
  bias_add_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(y, bias, n, cols);
  return cudaGetLastError();
}

}  // namespace tandem::gpu
