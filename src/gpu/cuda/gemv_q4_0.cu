#include "core/quant_blocks.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/gemv_quant_kernel.cuh"

namespace tandem::gpu {
namespace {

// x = d * (q - 8); byte j holds element j in its low nibble and element j + 16 in its
// high nibble.
struct DequantQ4_0 {
  __device__ __forceinline__ void operator()(const BlockQ4_0& b, float v[32]) const {
    const float d = detail::half_bits_to_f32(b.d);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int q = b.qs[j];
      v[j] = d * static_cast<float>((q & 0x0F) - 8);
      v[j + 16] = d * static_cast<float>((q >> 4) - 8);
    }
  }
};

}  // namespace

cudaError_t gemv_q4_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream) {
  return detail::launch_gemv<BlockQ4_0, DequantQ4_0>(w, x, y, s, stream);
}

}  // namespace tandem::gpu
