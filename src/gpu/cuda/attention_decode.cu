// Paged decode attention (flash-decoding): the kernel per (token, KV head, head slice,
// split), the merge kernel over splits, and their launcher. See attention.cuh for the
// contract and attention_common.h for the math and the layouts.
//
// A CTA streams its split's keys through shared memory kTileKeys at a time:
//   1. K tile -> smem (f32), coalesced; 2. scores of (head, key) pairs; 3. per head (warp
//   w owns heads w and w + 4) the online-softmax step over the tile, probabilities back
//   into smem, while all threads load the V tile over the K tile; 4. acc = acc * corr +
//   P.V, each thread owning a few (head, column) accumulators in registers.
#include "gpu/cuda/attention.cuh"
#include "gpu/cuda/attention_tile.cuh"
#include "gpu/cuda/kernel_util.cuh"

namespace tandem::gpu {
namespace {

using namespace attn;

struct DecodeParams {
  const float* q;               // [n_tokens, n_heads, head_dim]
  float* out;                   // [n_tokens, n_heads, head_dim] (n_split == 1)
  float* part_ml;               // [n_tokens, n_heads, n_split, 2] (n_split > 1)
  float* part_acc;              // [n_tokens, n_heads, n_split, head_dim] (n_split > 1)
  const uint8_t* k;             // pools: [n_blocks, n_kv_heads, block_tokens, head_dim]
  const uint8_t* v;
  const int32_t* tables;        // concatenated block tables
  const int32_t* table_start;   // [n_tokens]
  const int32_t* n_ctx;         // [n_tokens]
  int32_t n_heads, n_kv_heads, head_dim, block_tokens;
  int32_t group;                // n_heads / n_kv_heads
  int32_t heads_per_cta;        // decode_heads_per_cta(group)
  int32_t slices;               // decode_head_slices(group)
  DecodePlan plan;
  float scale;
};

// grid: (n_split, n_kv_heads * slices, n_tokens). kHpt: heads per thread in P.V (the
// bucket of decode_layout(...).heads_per_thread); at most 2 column blocks.
template <class Kv, int kHpt>
__global__ void __launch_bounds__(kThreads) decode_kernel(const DecodeParams p) {
  extern __shared__ float4 smem4[];
  const int32_t split = blockIdx.x;
  const int32_t kvh = blockIdx.y / p.slices, slice = blockIdx.y % p.slices;
  const int32_t t = blockIdx.z;
  const int32_t D = p.head_dim;
  const int32_t g0 = slice * p.heads_per_cta;
  const int32_t heads = min(p.heads_per_cta, p.group - g0);  // this CTA's; the last slice may have fewer
  const DecodeLayout L = decode_layout(D, p.heads_per_cta);

  float* qs = reinterpret_cast<float*>(smem4);           // [heads_per_cta, D]
  float* tile = qs + p.heads_per_cta * D;                 // [kTileKeys, tile_stride]: K, then V
  float* ps = tile + kTileKeys * L.tile_stride;           // [heads_per_cta, kTileKeys]
  float* corr = ps + p.heads_per_cta * kTileKeys;         // [heads_per_cta]
  float* ml = corr + p.heads_per_cta;                     // [heads_per_cta, 2]

  const int32_t tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t row0 = int64_t{t} * p.n_heads + int64_t{kvh} * p.group + g0;  // query row of head g0
  for (int32_t i = tid; i < heads * D; i += kThreads) qs[i] = p.q[row0 * D + i];
  const KeyRange range = split_range(p.n_ctx[t], p.plan, split);
  const int32_t* table = p.tables + p.table_start[t];

  // Score step: dot = (g, key), dot_threads threads each; a uniform trip count keeps
  // every lane in the shuffles.
  const int32_t part = tid % L.dot_threads;
  const int32_t dots_per_pass = kThreads / L.dot_threads;
  const int32_t n_dots = round_up(p.heads_per_cta * kTileKeys, dots_per_pass);
  // P.V step: columns d_lane + cols * c, heads g_lane + row_groups * j.
  const int32_t d_lane = tid % L.cols, g_lane = tid / L.cols;
  const bool pv_thread = g_lane < L.row_groups;
  float acc[2][kHpt];
#pragma unroll
  for (int c = 0; c < 2; ++c)
#pragma unroll
    for (int j = 0; j < kHpt; ++j) acc[c][j] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};  // heads warp, warp + 4

  for (int32_t k0 = range.begin; k0 < range.end; k0 += kTileKeys) {
    const int32_t n_keys = min(kTileKeys, range.end - k0);
    load_kv_tile<Kv>(tile, L.tile_stride, p.k, table, p.n_kv_heads, kvh, p.block_tokens, D, k0, n_keys);
    __syncthreads();  // the K tile (and, the first time, q)

    for (int32_t dot = tid / L.dot_threads; dot < n_dots; dot += dots_per_pass) {
      const int32_t g = dot / kTileKeys, key = dot % kTileKeys;
      float s = 0.f;
      if (g < heads) {
        const float4* qv = reinterpret_cast<const float4*>(qs + g * D);
        const float4* kv = reinterpret_cast<const float4*>(tile + key * L.tile_stride);
        for (int32_t c = part; c < D / 4; c += L.dot_threads) {
          const float4 a = qv[c], b = kv[c];
          s += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        }
      }
      for (int32_t off = 1; off < L.dot_threads; off <<= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
      if (g < heads && part == 0) ps[g * kTileKeys + key] = key < n_keys ? s * p.scale : -INFINITY;
    }
    __syncthreads();  // scores ready; the K tile is no longer read

#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int32_t g = warp + kWarps * i;
      if (g < heads) {  // warp-uniform
        const float s = ps[g * kTileKeys + lane];
        const Rescale r = online_rescale(m_run[i], warp_max(s));
        const float pr = softmax_weight(s, r.m_new);
        l_run[i] = l_run[i] * r.corr + detail::warp_sum(pr);
        m_run[i] = r.m_new;
        ps[g * kTileKeys + lane] = pr;
        if (lane == 0) corr[g] = r.corr;
      }
    }
    load_kv_tile<Kv>(tile, L.tile_stride, p.v, table, p.n_kv_heads, kvh, p.block_tokens, D, k0, n_keys);
    __syncthreads();  // probabilities, corr and the V tile

    if (pv_thread) {
#pragma unroll
      for (int j = 0; j < kHpt; ++j) {
        const int32_t g = g_lane + L.row_groups * j;
        const float cr = g < heads ? corr[g] : 0.f;
#pragma unroll
        for (int c = 0; c < 2; ++c) acc[c][j] *= cr;
      }
      // Keys past n_keys have probability 0 and zero rows: whole float4s of keys.
      for (int32_t key = 0; key < n_keys; key += 4) {
        float4 pr[kHpt];
#pragma unroll
        for (int j = 0; j < kHpt; ++j) {
          const int32_t g = g_lane + L.row_groups * j;
          pr[j] = g < heads ? *reinterpret_cast<const float4*>(ps + g * kTileKeys + key) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          if (c < L.col_blocks) {
            const float* vr = tile + key * L.tile_stride + d_lane + L.cols * c;
            const float v0 = vr[0], v1 = vr[L.tile_stride], v2 = vr[2 * L.tile_stride], v3 = vr[3 * L.tile_stride];
#pragma unroll
            for (int j = 0; j < kHpt; ++j) acc[c][j] += pr[j].x * v0 + pr[j].y * v1 + pr[j].z * v2 + pr[j].w * v3;
          }
        }
      }
    }
    __syncthreads();  // before the next K tile overwrites V and the probabilities
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int32_t g = warp + kWarps * i;
    if (g < heads && lane == 0) {
      ml[2 * g] = m_run[i];
      ml[2 * g + 1] = l_run[i];
    }
  }
  __syncthreads();
  const int32_t n_split = p.plan.n_split;
  if (pv_thread) {
#pragma unroll
    for (int j = 0; j < kHpt; ++j) {
      const int32_t g = g_lane + L.row_groups * j;
      if (g >= heads) continue;
      const int64_t row = row0 + g;
      if (n_split == 1) {
        const float l = ml[2 * g + 1];
        const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
        for (int c = 0; c < 2; ++c)
          if (c < L.col_blocks) p.out[row * D + d_lane + L.cols * c] = acc[c][j] * inv;
      } else {
        float* pa = p.part_acc + (row * n_split + split) * D;
#pragma unroll
        for (int c = 0; c < 2; ++c)
          if (c < L.col_blocks) pa[d_lane + L.cols * c] = acc[c][j];
      }
    }
  }
  if (n_split > 1 && tid < heads) {
    float* pm = p.part_ml + ((row0 + tid) * n_split + split) * 2;
    pm[0] = ml[2 * tid];
    pm[1] = ml[2 * tid + 1];
  }
}

// One CTA per query row (token, head): out = sum_s w_s acc_s (attention_common.h).
__global__ void __launch_bounds__(kThreads)
    merge_kernel(const float* __restrict__ part_ml, const float* __restrict__ part_acc, float* __restrict__ out,
                 int32_t n_split, int32_t head_dim) {
  __shared__ float w[kDecodeMaxSplits];
  const int64_t row = blockIdx.x;
  const float* ml = part_ml + row * n_split * 2;
  const Merged g = merge_states(ml, n_split);
  for (int32_t s = threadIdx.x; s < n_split; s += blockDim.x) w[s] = split_weight(ml, s, g);
  __syncthreads();
  const float* acc = part_acc + row * n_split * head_dim;
  for (int32_t d = threadIdx.x; d < head_dim; d += blockDim.x)
    out[row * head_dim + d] = merge_column(w, acc + d, head_dim, n_split);
}

template <class Kv, int kHpt>
cudaError_t launch_n(const DecodeParams& p, dim3 grid, size_t smem, cudaStream_t stream) {
  decode_kernel<Kv, kHpt><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <class Kv>
cudaError_t launch_kv(const DecodeParams& p, int32_t hpt, dim3 grid, size_t smem, cudaStream_t stream) {
  switch (hpt) {
    case 1: return launch_n<Kv, 1>(p, grid, smem, stream);
    case 2: return launch_n<Kv, 2>(p, grid, smem, stream);
    case 4: return launch_n<Kv, 4>(p, grid, smem, stream);
    case 8: return launch_n<Kv, 8>(p, grid, smem, stream);
    default: return cudaErrorInvalidValue;
  }
}

bool aligned(const void* ptr, uintptr_t a) { return reinterpret_cast<uintptr_t>(ptr) % a == 0; }

}  // namespace

DecodePlan plan_decode_for(const DecodeAttnArgs& a, int32_t n_sm) {
  if (a.kv.n_kv_heads <= 0 || a.n_heads <= 0) return {};
  const int64_t ctas = int64_t{a.n_tokens} * a.kv.n_kv_heads * decode_head_slices(a.n_heads / a.kv.n_kv_heads);
  return plan_decode(ctas, a.max_ctx, n_sm);
}

size_t decode_workspace_bytes(const DecodePlan& plan, int32_t n_tokens, int32_t n_heads, int32_t head_dim) {
  return static_cast<size_t>(decode_workspace_floats(plan, n_tokens, n_heads, head_dim)) * sizeof(float);
}

cudaError_t attention_decode(const DecodeAttnArgs& a, const DecodePlan& plan, void* workspace, size_t workspace_bytes,
                             cudaStream_t stream) {
  const AttnKv& kv = a.kv;
  if (attention_shape_problem(kv.type, a.n_heads, kv.n_kv_heads, kv.head_dim, kv.block_tokens) != nullptr)
    return cudaErrorInvalidValue;
  if (a.n_tokens < 0 || a.n_tokens > 65535 || a.max_ctx < 0) return cudaErrorInvalidValue;
  if (plan.n_split < 1 || plan.n_split > kDecodeMaxSplits) return cudaErrorInvalidValue;
  if (plan.n_split > 1 && (plan.chunk <= 0 || plan.chunk % kTileKeys != 0)) return cudaErrorInvalidValue;
  if (a.n_tokens == 0) return cudaSuccess;
  const int32_t group = a.n_heads / kv.n_kv_heads;
  const int32_t slices = decode_head_slices(group);
  if (int64_t{kv.n_kv_heads} * slices > 65535) return cudaErrorInvalidValue;
  if (a.q == nullptr || a.out == nullptr || kv.k == nullptr || kv.v == nullptr || a.block_tables == nullptr ||
      a.table_start == nullptr || a.n_ctx == nullptr)
    return cudaErrorInvalidValue;
  const uintptr_t pool_align = kv.type == DType::kQ8_0 ? 2 : 16;
  if (!aligned(kv.k, pool_align) || !aligned(kv.v, pool_align)) return cudaErrorInvalidValue;
  const size_t need = decode_workspace_bytes(plan, a.n_tokens, a.n_heads, kv.head_dim);
  if (need > 0 && (workspace == nullptr || workspace_bytes < need || !aligned(workspace, 16)))
    return cudaErrorInvalidValue;

  DecodeParams p{};
  p.q = a.q;
  p.out = a.out;
  p.part_ml = static_cast<float*>(workspace);
  p.part_acc = need > 0 ? p.part_ml + int64_t{a.n_tokens} * a.n_heads * plan.n_split * 2 : nullptr;
  p.k = static_cast<const uint8_t*>(kv.k);
  p.v = static_cast<const uint8_t*>(kv.v);
  p.tables = a.block_tables;
  p.table_start = a.table_start;
  p.n_ctx = a.n_ctx;
  p.n_heads = a.n_heads;
  p.n_kv_heads = kv.n_kv_heads;
  p.head_dim = kv.head_dim;
  p.block_tokens = kv.block_tokens;
  p.group = group;
  p.heads_per_cta = decode_heads_per_cta(group);
  p.slices = slices;
  p.plan = plan;
  p.scale = a.scale;

  const DecodeLayout L = decode_layout(kv.head_dim, p.heads_per_cta);
  const int32_t hpt = decode_heads_per_thread_bucket(L.heads_per_thread);
  const int64_t smem = decode_smem_bytes(kv.head_dim, p.heads_per_cta);
  if (smem > 48 * 1024) return cudaErrorInvalidValue;  // never for head_dim <= 256 (host-tested)
  const dim3 grid(static_cast<unsigned>(plan.n_split), static_cast<unsigned>(kv.n_kv_heads * slices),
                  static_cast<unsigned>(a.n_tokens));
  cudaError_t e = cudaErrorInvalidValue;
  switch (kv.type) {
    case DType::kF32: e = launch_kv<KvF32>(p, hpt, grid, static_cast<size_t>(smem), stream); break;
    case DType::kF16: e = launch_kv<KvF16>(p, hpt, grid, static_cast<size_t>(smem), stream); break;
    case DType::kBF16: e = launch_kv<KvBF16>(p, hpt, grid, static_cast<size_t>(smem), stream); break;
    case DType::kQ8_0: e = launch_kv<KvQ8_0>(p, hpt, grid, static_cast<size_t>(smem), stream); break;
    default: return cudaErrorInvalidValue;
  }
  if (e != cudaSuccess || plan.n_split == 1) return e;
  merge_kernel<<<static_cast<unsigned>(int64_t{a.n_tokens} * a.n_heads), kThreads, 0, stream>>>(
      p.part_ml, p.part_acc, a.out, plan.n_split, kv.head_dim);
  return cudaGetLastError();
}

}  // namespace tandem::gpu
