// gemv_q3_k (gemv_quant.cuh): the warp-per-row kernel with Q3_K's decoding (dequant_k.h).
#include "gpu/cuda/dequant_k.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/gemv_quant_kernel.cuh"

namespace tandem::gpu {

cudaError_t gemv_q3_k(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream) {
  return detail::launch_gemv<DequantQ3_K>(w, x, y, s, stream);
}

}  // namespace tandem::gpu
