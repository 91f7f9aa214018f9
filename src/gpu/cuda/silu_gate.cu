#include "gpu/cuda/kernel_util.cuh"
#include "gpu/cuda/silu_gate.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void silu_gate_kernel(const T* gate, const T* up, T* y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = detail::to_f32(gate[i]);
    y[i] = detail::from_f32<T>(g / (1.0f + expf(-g)) * detail::to_f32(up[i]));
  }
}

template <typename T>
cudaError_t launch(const T* gate, const T* up, T* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (n < 0) return cudaErrorInvalidValue;
  silu_gate_kernel<T><<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(gate, up, y, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t silu_gate_f32(const float* gate, const float* up, float* y, int64_t n, cudaStream_t stream) {
  return launch(gate, up, y, n, stream);
}

cudaError_t silu_gate_f16(const __half* gate, const __half* up, __half* y, int64_t n, cudaStream_t stream) {
  return launch(gate, up, y, n, stream);
}

}  // namespace tandem::gpu
