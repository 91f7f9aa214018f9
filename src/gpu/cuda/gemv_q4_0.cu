// gemv_q4_0 (gemv_quant.cuh): the warp-per-row kernel with Q4_0's decoding (dequant_legacy.h).
#include "gpu/cuda/dequant_legacy.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/gemv_quant_kernel.cuh"

namespace tandem::gpu {

cudaError_t gemv_q4_0(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream) {
  return detail::launch_gemv<DequantQ4_0>(w, x, y, s, stream);
}

}  // namespace tandem::gpu
