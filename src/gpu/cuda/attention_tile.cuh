// Device pieces both attention kernels use (nvcc only): loading a tile of kTileKeys
// K or V rows of one KV head from the paged pool into shared memory as f32, and warp max.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda/attention_common.h"
#include "gpu/cuda/attention_kv.h"

namespace tandem::gpu::attn {

__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// tile[key * stride + d] = row (k0 + key)[d] for key < n_keys; rows key >= n_keys are
// zeros (their probabilities are 0, and 0 * garbage could be NaN). Every thread of the
// CTA calls it; consecutive threads read consecutive 8-element chunks of a row, so a
// warp reads whole rows (a row of 128 f16 is 16 chunks = 256 contiguous bytes).
// tile: 16-byte aligned, stride a multiple of 4.
template <class Kv>
__device__ __forceinline__ void load_kv_tile(float* __restrict__ tile, int32_t stride, const uint8_t* __restrict__ pool,
                                             const int32_t* __restrict__ table, int32_t n_kv_heads, int32_t kvh,
                                             int32_t block_tokens, int32_t head_dim, int32_t k0, int32_t n_keys) {
  const int32_t chunks = head_dim / 8;
  const int64_t row_bytes = Kv::row_bytes(head_dim);
  for (int32_t i = threadIdx.x; i < kTileKeys * chunks; i += blockDim.x) {
    const int32_t key = i / chunks, c = i % chunks;
    float v[8];
    if (key < n_keys) {
      const int64_t row = kv_row(table, k0 + key, n_kv_heads, kvh, block_tokens);
      Kv::load8(pool + row * row_bytes, c, v);
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = 0.f;
    }
    float4* dst = reinterpret_cast<float4*>(tile + key * stride + 8 * c);
    dst[0] = make_float4(v[0], v[1], v[2], v[3]);
    dst[1] = make_float4(v[4], v[5], v[6], v[7]);
  }
}

}  // namespace tandem::gpu::attn
