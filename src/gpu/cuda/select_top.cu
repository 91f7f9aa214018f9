// argmax_rows and top_k_rows (select_top.cuh): one CTA of select::kThreads threads per
// row of logits. argmax is one pass and a u64 max reduction of (key, ~index). top-k is
// the radix select of select_key.h (4 histogram passes over the row, warp-aggregated
// shared-memory counts), one ordered gathering pass (block-wide scans of per-thread
// counts in index order, so the elements equal to the threshold that are taken are the
// lowest-indexed), and a rank sort of the k <= 64 candidates.
#include "gpu/cuda/select_top.cuh"

#include "gpu/cuda/select_key.h"

namespace tandem::gpu {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = select::kThreads / 32;
constexpr int kGatherPer = 8;  // consecutive elements per thread in a gathering round
constexpr int64_t kRound = int64_t{select::kThreads} * kGatherPer;
static_assert(kRound < 0x10000, "a round's counts share one u32, 16 bits each");

__device__ __forceinline__ uint64_t warp_max_u64(uint64_t v) {
  for (int off = 16; off > 0; off >>= 1) {
    const uint64_t o = __shfl_xor_sync(kFull, v, off);
    v = o > v ? o : v;
  }
  return v;
}

// row: [n_vocab] f32 of row blockIdx.x; out[blockIdx.x] = the winner's index.
__global__ void __launch_bounds__(select::kThreads)
    argmax_kernel(const float* __restrict__ logits, int64_t n_vocab, int32_t* __restrict__ out) {
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * n_vocab;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  uint64_t best = 0;  // below every packed key (the smallest key is -inf's, > 0)
  for (int64_t i = threadIdx.x; i < n_vocab; i += select::kThreads) {
    const uint64_t p = select::argmax_pack(select::argmax_key(row[i]), static_cast<uint32_t>(i));
    best = p > best ? p : best;
  }
  __shared__ uint64_t warp_best[kWarps];
  best = warp_max_u64(best);
  if (lane == 0) warp_best[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = warp_max_u64(lane < kWarps ? warp_best[lane] : 0);
    if (lane == 0) out[blockIdx.x] = static_cast<int32_t>(select::argmax_index(best));
  }
}

// Adds one to hist[bin] for every lane whose bin < kBins: one shared atomic per distinct
// bin of the warp (logits crowd into few top-digit bins). All 32 lanes must call it.
__device__ __forceinline__ void warp_count(uint32_t* hist, uint32_t bin, int lane) {
  const unsigned peers = __match_any_sync(kFull, bin);
  if (bin < static_cast<uint32_t>(select::kBins) && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
}

// row: [n_vocab] f32 of row blockIdx.x; out_ids / out_values: [n_rows, k], best first.
__global__ void __launch_bounds__(select::kThreads)
    top_k_kernel(const float* __restrict__ logits, int64_t n_vocab, int32_t k, int32_t* __restrict__ out_ids,
                 float* __restrict__ out_values) {
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * n_vocab;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  __shared__ uint32_t hist[select::kBins];
  __shared__ uint32_t picked_digit, picked_remaining;

  // ---- radix select: the k-th largest key and how many of its equals to take
  uint32_t prefix = 0, remaining = static_cast<uint32_t>(k);  // block-uniform
  for (int pass = 0; pass < select::kPasses; ++pass) {
    for (int b = tid; b < select::kBins; b += select::kThreads) hist[b] = 0;
    __syncthreads();
    for (int64_t base = 0; base < n_vocab; base += select::kThreads) {  // uniform trip count
      const int64_t i = base + tid;
      uint32_t bin = select::kBins;  // none
      if (i < n_vocab) {
        const uint32_t key = select::topk_key(row[i]);
        if (select::matches_prefix(key, prefix, pass)) bin = select::digit_of(key, pass);
      }
      warp_count(hist, bin, lane);
    }
    __syncthreads();
    if (warp == 0) {
      const uint32_t count = select::lane_count(hist, lane);
      uint32_t incl = count;  // inclusive scan over lanes (lane 0 holds the top bins)
      for (int off = 1; off < 32; off <<= 1) {
        const uint32_t t = __shfl_up_sync(kFull, incl, off);
        if (lane >= off) incl += t;
      }
      select::DigitPick p;
      if (select::lane_pick(hist, lane, incl - count, remaining, &p)) {
        picked_digit = p.digit;
        picked_remaining = p.remaining;
      }
    }
    __syncthreads();
    prefix |= picked_digit << select::digit_shift(pass);
    remaining = picked_remaining;
    __syncthreads();  // everyone has read picked_* before the next pass writes them
  }

  // ---- gather in index order: every key > threshold, the first need_eq keys == it.
  // A round is kGatherPer consecutive elements per thread; a block-wide exclusive scan
  // of the threads' counts (gt in the high 16 bits, eq in the low: at most kRound each)
  // places each taken element, so the equal ones taken are the lowest-indexed.
  const uint32_t threshold = prefix, need_eq = remaining, n_gt = static_cast<uint32_t>(k) - remaining;
  __shared__ uint32_t warp_total[kWarps];
  __shared__ int32_t cand[select::kMaxK];
  __shared__ uint32_t cand_key[select::kMaxK];
  uint32_t gt_base = 0, eq_base = 0;  // block-uniform
  for (int64_t base = 0; base < n_vocab; base += kRound) {
    const int64_t first = base + static_cast<int64_t>(tid) * kGatherPer;
    uint32_t keys[kGatherPer];
    uint32_t mine = 0;
#pragma unroll
    for (int j = 0; j < kGatherPer; ++j) {
      keys[j] = first + j < n_vocab ? select::topk_key(row[first + j]) : 0u;
      const bool in = first + j < n_vocab;
      mine += in && keys[j] > threshold ? 0x10000u : (in && keys[j] == threshold ? 1u : 0u);
    }
    uint32_t incl = mine;  // inclusive scan over the warp
    for (int off = 1; off < 32; off <<= 1) {
      const uint32_t t = __shfl_up_sync(kFull, incl, off);
      if (lane >= off) incl += t;
    }
    if (lane == 31) warp_total[warp] = incl;
    __syncthreads();
    uint32_t before = incl - mine, round = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      if (w < warp) before += warp_total[w];
      round += warp_total[w];
    }
    uint32_t r_gt = gt_base + (before >> 16), r_eq = eq_base + (before & 0xffffu);
#pragma unroll
    for (int j = 0; j < kGatherPer; ++j) {
      if (first + j >= n_vocab) break;
      if (keys[j] > threshold) {
        if (r_gt < n_gt) cand[r_gt] = static_cast<int32_t>(first + j);  // always: exactly n_gt are larger
        ++r_gt;
      } else if (keys[j] == threshold) {
        if (r_eq < need_eq) cand[n_gt + r_eq] = static_cast<int32_t>(first + j);
        ++r_eq;
      }
    }
    gt_base += round >> 16;
    eq_base += round & 0xffffu;
    __syncthreads();  // warp_total is rewritten next round
    if (gt_base >= n_gt && eq_base >= need_eq) break;
  }

  // ---- order the k candidates: each one's rank is how many go before it
  if (tid < k) cand_key[tid] = select::topk_key(row[cand[tid]]);
  __syncthreads();
  if (tid < k) {
    const int32_t id = cand[tid];
    const uint32_t key = cand_key[tid];
    int rank = 0;
    for (int j = 0; j < k; ++j) rank += select::ranks_before(cand_key[j], cand[j], key, id) ? 1 : 0;
    const int64_t at = static_cast<int64_t>(blockIdx.x) * k + rank;
    out_ids[at] = id;
    if (out_values != nullptr) out_values[at] = select::topk_sanitize(row[id]);
  }
}

}  // namespace

cudaError_t argmax_rows(const float* logits, int64_t n_rows, int64_t n_vocab, int32_t* out, cudaStream_t stream) {
  if (!select::select_shape_ok(n_rows, n_vocab, 1)) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  argmax_kernel<<<static_cast<unsigned>(n_rows), select::kThreads, 0, stream>>>(logits, n_vocab, out);
  return cudaGetLastError();
}

cudaError_t top_k_rows(const float* logits, int64_t n_rows, int64_t n_vocab, int32_t k, int32_t* out_ids,
                       float* out_values, cudaStream_t stream) {
  if (!select::select_shape_ok(n_rows, n_vocab, k)) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  top_k_kernel<<<static_cast<unsigned>(n_rows), select::kThreads, 0, stream>>>(logits, n_vocab, k, out_ids,
                                                                               out_values);
  return cudaGetLastError();
}

}  // namespace tandem::gpu
