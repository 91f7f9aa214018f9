#include <cstdint>

#include "core/quant_blocks.h"
#include "gpu/cuda/kernel_util.cuh"
#include "gpu/cuda/kv_store.cuh"

namespace tandem::gpu {
namespace {

constexpr int kWarpsPerCta = 4;

// f32 -> bf16 bits, round to nearest even, NaN kept quiet: core/fp16.h's f32_to_bf16.
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// One warp per (token, KV head, K or V) row.
__global__ void kv_store_kernel(KvStoreArgs a, int64_t row_bytes) {
  const int lane = threadIdx.x % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerCta + threadIdx.x / 32;
  const int64_t n_rows = int64_t{a.n_tokens} * a.n_kv_heads * 2;
  if (r >= n_rows) return;
  const bool is_v = (r & 1) != 0;
  const int64_t head_row = r >> 1;  // token * n_kv_heads + head
  const int32_t t = static_cast<int32_t>(head_row / a.n_kv_heads);
  const int32_t h = static_cast<int32_t>(head_row % a.n_kv_heads);
  const int32_t pos = a.positions[t];
  const int64_t block = a.block_tables[a.table_start[t] + pos / a.block_tokens];
  const int64_t dst_row = (block * a.n_kv_heads + h) * a.block_tokens + pos % a.block_tokens;
  const float* src = (is_v ? a.v : a.k) + head_row * a.head_dim;
  uint8_t* dst = static_cast<uint8_t*>(is_v ? a.v_pool : a.k_pool) + dst_row * row_bytes;
  switch (a.type) {
    case DType::kF32:
      for (int i = lane; i < a.head_dim; i += 32) reinterpret_cast<float*>(dst)[i] = src[i];
      break;
    case DType::kF16:
      for (int i = lane; i < a.head_dim; i += 32)
        reinterpret_cast<uint16_t*>(dst)[i] = __half_as_ushort(__float2half_rn(src[i]));
      break;
    case DType::kBF16:
      for (int i = lane; i < a.head_dim; i += 32) reinterpret_cast<uint16_t*>(dst)[i] = to_bf16_bits(src[i]);
      break;
    case DType::kQ8_0:
      // A block of 32 per warp step, lane j holding element j: quantize_q8_0_ref.
      for (int b = 0; b < a.head_dim / 32; ++b) {
        const float x = src[32 * b + lane];
        const float amax = warp_max(fabsf(x));
        const float d = __fdiv_rn(amax, 127.0f);
        const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
        auto* blk = reinterpret_cast<BlockQ8_0*>(dst + b * static_cast<int64_t>(sizeof(BlockQ8_0)));
        blk->qs[lane] = static_cast<int8_t>(roundf(__fmul_rn(x, id)));
        if (lane == 0) blk->d = __half_as_ushort(__float2half_rn(d));
      }
      break;
    default:
      break;
  }
}

}  // namespace

cudaError_t kv_store(const KvStoreArgs& a, cudaStream_t stream) {
  if (a.type != DType::kF32 && a.type != DType::kF16 && a.type != DType::kBF16 && a.type != DType::kQ8_0)
    return cudaErrorInvalidValue;
  if (a.n_tokens < 0 || a.n_kv_heads <= 0 || a.head_dim <= 0 || a.block_tokens <= 0) return cudaErrorInvalidValue;
  if (a.type == DType::kQ8_0 && a.head_dim % 32 != 0) return cudaErrorInvalidValue;
  if (a.n_tokens == 0) return cudaSuccess;
  if (a.k == nullptr || a.v == nullptr || a.k_pool == nullptr || a.v_pool == nullptr || a.positions == nullptr ||
      a.block_tables == nullptr || a.table_start == nullptr)
    return cudaErrorInvalidValue;
  const auto rb = row_bytes(a.type, static_cast<uint64_t>(a.head_dim));
  if (!rb) return cudaErrorInvalidValue;
  const int64_t n_rows = int64_t{a.n_tokens} * a.n_kv_heads * 2;
  const int64_t ctas = (n_rows + kWarpsPerCta - 1) / kWarpsPerCta;
  if (ctas > INT32_MAX) return cudaErrorInvalidValue;
  kv_store_kernel<<<static_cast<unsigned>(ctas), 32 * kWarpsPerCta, 0, stream>>>(a, static_cast<int64_t>(*rb));
  return cudaGetLastError();
}

}  // namespace tandem::gpu
