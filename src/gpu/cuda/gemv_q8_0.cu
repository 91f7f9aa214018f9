#include "core/quant_blocks.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/gemv_quant_kernel.cuh"

namespace tandem::gpu {
namespace {

struct DequantQ8_0 {  // x = d * q
  __device__ __forceinline__ void operator()(const BlockQ8_0& b, float v[32]) const {
    const float d = detail::half_bits_to_f32(b.d);
#pragma unroll
    for (int j = 0; j < 32; ++j) v[j] = d * static_cast<float>(b.qs[j]);
  }
};

}  // namespace

cudaError_t gemv_q8_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream) {
  return detail::launch_gemv<BlockQ8_0, DequantQ8_0>(w, x, y, s, stream);
}

}  // namespace tandem::gpu
