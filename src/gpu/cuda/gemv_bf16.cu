// gemv_bf16 (gemv_quant.cuh): the warp-per-row kernel with BF16's decoding (dequant_legacy.h).
#include "gpu/cuda/dequant_legacy.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/gemv_quant_kernel.cuh"

namespace tandem::gpu {

cudaError_t gemv_bf16(const void* w, const float* x, float* y, GemvShape s, cudaStream_t stream) {
  return detail::launch_gemv<DequantBF16>(w, x, y, s, stream);
}

}  // namespace tandem::gpu
