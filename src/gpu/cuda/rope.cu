#include <cmath>

#include "gpu/cuda/kernel_util.cuh"
#include "gpu/cuda/rope.cuh"

namespace tandem::gpu {
namespace {

constexpr int kThreads = 256;

// One thread per rotated pair: index = (token * n_heads + head) * half + i.
template <typename T>
__global__ void rope_kernel(T* x, RopeArgs a, float theta_scale, int64_t n_pairs) {
  const int32_t half = a.n_rot / 2;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n_pairs; idx += stride) {
    const int32_t i = static_cast<int32_t>(idx % half);
    const int64_t head_row = idx / half;  // token * n_heads + head
    const int32_t token = static_cast<int32_t>(head_row / a.n_heads);
    float theta = static_cast<float>(a.positions[token]) * a.freq_scale;
    for (int32_t k = 0; k < i; ++k) theta *= theta_scale;
    if (a.freq_factors != nullptr) theta = theta / a.freq_factors[i];
    const float c = cosf(theta), s = sinf(theta);
    T* v = x + head_row * a.head_dim;
    const int32_t p = a.style == RopeStyle::kNormal ? 2 * i : i;
    const int32_t q = a.style == RopeStyle::kNormal ? 2 * i + 1 : i + half;
    const float x0 = detail::to_f32(v[p]), x1 = detail::to_f32(v[q]);
    v[p] = detail::from_f32<T>(x0 * c - x1 * s);
    v[q] = detail::from_f32<T>(x0 * s + x1 * c);
  }
}

template <typename T>
cudaError_t launch(T* x, const RopeArgs& a, cudaStream_t stream) {
  if (a.n_rot <= 0 || a.n_rot % 2 != 0 || a.n_rot > a.head_dim || a.n_tokens < 0 || a.n_heads < 0)
    return cudaErrorInvalidValue;
  const int64_t n_pairs = static_cast<int64_t>(a.n_tokens) * a.n_heads * (a.n_rot / 2);
  if (n_pairs == 0) return cudaSuccess;
  const float theta_scale = std::pow(a.freq_base, -2.0f / static_cast<float>(a.n_rot));  // as rope_ref
  rope_kernel<T><<<detail::grid_for(n_pairs, kThreads), kThreads, 0, stream>>>(x, a, theta_scale, n_pairs);
  return cudaGetLastError();
}

}  // namespace

cudaError_t rope_f32(float* x, const RopeArgs& a, cudaStream_t stream) { return launch(x, a, stream); }
cudaError_t rope_f16(__half* x, const RopeArgs& a, cudaStream_t stream) { return launch(x, a, stream); }

}  // namespace tandem::gpu
