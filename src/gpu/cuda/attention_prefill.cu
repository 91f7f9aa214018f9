// Causal prefill attention of one chunk over the paged KV cache (flash-attention style,
// f32 SIMT): the kernel and its launcher. See attention.cuh for the contract and
// attention_common.h (prefill_tiling, prefill_row) for the rows a CTA runs.
//
// A CTA holds its query rows in shared memory and streams the keys [0, n_ctx0 + last
// token) through it kTileKeys at a time. Each warp owns rows_per_warp rows and keeps
// their softmax state and output accumulators in registers, so no state crosses warps:
//   1. K tile -> smem (f32);  2. lane = key: the warp's scores for its rows, the causal
//   mask (key < n_ctx0 + token), the online-softmax step, probabilities into the warp's
//   slice of smem;  3. V tile -> smem over the K tile;  4. lane + 32 c = column:
//   acc = acc * corr + P.V.
#include "gpu/cuda/attention.cuh"
#include "gpu/cuda/attention_tile.cuh"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu {
namespace {

using namespace attn;

struct PrefillParams {
  const float* q;          // [n_tokens, n_heads, head_dim]
  float* out;              // [n_tokens, n_heads, head_dim]
  const uint8_t* k;        // pools: [n_blocks, n_kv_heads, block_tokens, head_dim]
  const uint8_t* v;
  const int32_t* table;    // the sequence's block table
  int32_t n_tokens, n_heads, n_kv_heads, head_dim, block_tokens;
  int32_t group;           // n_heads / n_kv_heads
  int32_t n_ctx0;          // token i attends to keys [0, n_ctx0 + i)
  PrefillTiling tiling;
  float scale;
};

// grid: (token_tiles, n_kv_heads * head_slices). kRpw: rows per warp (8 for head_dim <=
// 128, 4 up to 256), so 32 / kRpw columns per lane cover the head.
template <class Kv, int kRpw>
__global__ void __launch_bounds__(kThreads) prefill_kernel(const PrefillParams p) {
  constexpr int kRows = kWarps * kRpw;
  constexpr int kCols = 32 / kRpw;
  extern __shared__ float4 smem4[];
  const int32_t D = p.head_dim, stride = prefill_tile_stride(D);
  float* qs = reinterpret_cast<float*>(smem4);  // [kRows, D]
  float* tile = qs + kRows * D;                  // [kTileKeys, stride]: K, then V
  float* ps = tile + kTileKeys * stride;         // [kRows, kTileKeys]

  const int32_t tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int32_t token_tile = blockIdx.x;
  const int32_t kvh = blockIdx.y / p.tiling.head_slices, slice = blockIdx.y % p.tiling.head_slices;
  const int64_t head0 = int64_t{kvh} * p.group;  // first query head of the KV group

  for (int32_t i = tid; i < kRows * D; i += kThreads) {
    const PrefillRow row = prefill_row(p.tiling, p.n_tokens, p.group, token_tile, slice, i / D);
    qs[i] = row.valid ? p.q[(row.token * int64_t{p.n_heads} + head0 + row.head) * D + i % D] : 0.f;
  }
  int32_t limit[kRpw];  // keys [0, limit) for each of this warp's rows; 0 for padding rows
#pragma unroll
  for (int i = 0; i < kRpw; ++i) {
    const PrefillRow row = prefill_row(p.tiling, p.n_tokens, p.group, token_tile, slice, warp * kRpw + i);
    limit[i] = row.valid ? p.n_ctx0 + row.token : 0;
  }
  const int32_t last_token = min((token_tile + 1) * p.tiling.tokens_per_cta, p.n_tokens) - 1;
  const int32_t n_keys_cta = p.n_ctx0 + last_token;

  float acc[kRpw][kCols], m[kRpw], l[kRpw];
#pragma unroll
  for (int i = 0; i < kRpw; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[i][c] = 0.f;
  }
  const float4* q4 = reinterpret_cast<const float4*>(qs + warp * kRpw * D);
  float* pw = ps + warp * kRpw * kTileKeys;  // this warp's probabilities [kRpw, kTileKeys]

  for (int32_t k0 = 0; k0 < n_keys_cta; k0 += kTileKeys) {
    const int32_t n_keys = min(kTileKeys, n_keys_cta - k0);
    load_kv_tile<Kv>(tile, stride, p.k, p.table, p.n_kv_heads, kvh, p.block_tokens, D, k0, n_keys);
    __syncthreads();  // the K tile (and, the first time, q)

    float s[kRpw];
#pragma unroll
    for (int i = 0; i < kRpw; ++i) s[i] = 0.f;
    const float4* kr = reinterpret_cast<const float4*>(tile + lane * stride);
    for (int32_t c = 0; c < D / 4; ++c) {
      const float4 b = kr[c];
#pragma unroll
      for (int i = 0; i < kRpw; ++i) {
        const float4 a = q4[i * (D / 4) + c];
        s[i] += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
      }
    }
#pragma unroll
    for (int i = 0; i < kRpw; ++i) {
      const float sc = k0 + lane < limit[i] ? s[i] * p.scale : -INFINITY;
      const Rescale r = online_rescale(m[i], warp_max(sc));
      const float pr = softmax_weight(sc, r.m_new);
      l[i] = l[i] * r.corr + detail::warp_sum(pr);
      m[i] = r.m_new;
      pw[i * kTileKeys + lane] = pr;
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[i][c] *= r.corr;
    }
    __syncthreads();  // every warp is done with the K tile
    load_kv_tile<Kv>(tile, stride, p.v, p.table, p.n_kv_heads, kvh, p.block_tokens, D, k0, n_keys);
    __syncthreads();  // the V tile (and this warp's probabilities)

    // Keys past n_keys have probability 0 and zero rows: whole float4s of keys.
    for (int32_t key = 0; key < n_keys; key += 4) {
      float4 pr[kRpw];
#pragma unroll
      for (int i = 0; i < kRpw; ++i) pr[i] = *reinterpret_cast<const float4*>(pw + i * kTileKeys + key);
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int32_t d = lane + 32 * c;
        if (d < D) {
          const float* vr = tile + key * stride + d;
          const float v0 = vr[0], v1 = vr[stride], v2 = vr[2 * stride], v3 = vr[3 * stride];
#pragma unroll
          for (int i = 0; i < kRpw; ++i) acc[i][c] += pr[i].x * v0 + pr[i].y * v1 + pr[i].z * v2 + pr[i].w * v3;
        }
      }
    }
    __syncthreads();  // before the next K tile overwrites V
  }

#pragma unroll
  for (int i = 0; i < kRpw; ++i) {
    const PrefillRow row = prefill_row(p.tiling, p.n_tokens, p.group, token_tile, slice, warp * kRpw + i);
    if (!row.valid) continue;
    const float inv = l[i] > 0.f ? 1.f / l[i] : 0.f;
    float* o = p.out + (row.token * int64_t{p.n_heads} + head0 + row.head) * D;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int32_t d = lane + 32 * c;
      if (d < D) o[d] = acc[i][c] * inv;
    }
  }
}

template <class Kv, int kRpw>
cudaError_t launch_rpw(const PrefillParams& p, dim3 grid, size_t smem, cudaStream_t stream) {
  if (smem > 48 * 1024) {  // head_dim > 128: opt in to more than the default 48 KiB
    const cudaError_t e =
        cudaFuncSetAttribute(prefill_kernel<Kv, kRpw>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  prefill_kernel<Kv, kRpw><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <class Kv>
cudaError_t launch_kv(const PrefillParams& p, dim3 grid, size_t smem, cudaStream_t stream) {
  return p.tiling.rows_per_warp == 8 ? launch_rpw<Kv, 8>(p, grid, smem, stream) : launch_rpw<Kv, 4>(p, grid, smem, stream);
}

bool aligned(const void* ptr, uintptr_t a) { return reinterpret_cast<uintptr_t>(ptr) % a == 0; }

}  // namespace

cudaError_t attention_prefill(const PrefillAttnArgs& a, cudaStream_t stream) {
  const AttnKv& kv = a.kv;
  if (attention_shape_problem(kv.type, a.n_heads, kv.n_kv_heads, kv.head_dim, kv.block_tokens) != nullptr)
    return cudaErrorInvalidValue;
  if (a.n_tokens < 0 || a.n_ctx0 < 1 || int64_t{a.n_ctx0} + a.n_tokens > INT32_MAX) return cudaErrorInvalidValue;
  if (a.n_tokens == 0) return cudaSuccess;
  if (a.q == nullptr || a.out == nullptr || kv.k == nullptr || kv.v == nullptr || a.block_table == nullptr)
    return cudaErrorInvalidValue;
  const uintptr_t pool_align = kv.type == DType::kQ8_0 ? 2 : 16;
  if (!aligned(kv.k, pool_align) || !aligned(kv.v, pool_align)) return cudaErrorInvalidValue;

  PrefillParams p{};
  p.q = a.q;
  p.out = a.out;
  p.k = static_cast<const uint8_t*>(kv.k);
  p.v = static_cast<const uint8_t*>(kv.v);
  p.table = a.block_table;
  p.n_tokens = a.n_tokens;
  p.n_heads = a.n_heads;
  p.n_kv_heads = kv.n_kv_heads;
  p.head_dim = kv.head_dim;
  p.block_tokens = kv.block_tokens;
  p.group = a.n_heads / kv.n_kv_heads;
  p.n_ctx0 = a.n_ctx0;
  p.tiling = prefill_tiling(a.n_tokens, p.group, kv.head_dim);
  p.scale = a.scale;
  if (int64_t{kv.n_kv_heads} * p.tiling.head_slices > 65535) return cudaErrorInvalidValue;

  const dim3 grid(static_cast<unsigned>(p.tiling.token_tiles), static_cast<unsigned>(kv.n_kv_heads * p.tiling.head_slices));
  const auto smem = static_cast<size_t>(prefill_smem_bytes(kv.head_dim));
  switch (kv.type) {
    case DType::kF32: return launch_kv<KvF32>(p, grid, smem, stream);
    case DType::kF16: return launch_kv<KvF16>(p, grid, smem, stream);
    case DType::kBF16: return launch_kv<KvBF16>(p, grid, smem, stream);
    case DType::kQ8_0: return launch_kv<KvQ8_0>(p, grid, smem, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace tandem::gpu
