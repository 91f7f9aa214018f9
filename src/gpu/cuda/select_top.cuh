// Greedy argmax and top-k over rows of logits on the device, for sampling on the GPU:
// exact, and with the CPU sampler's rules (select_key.h says them in full):
//  - argmax_rows picks what sampling::argmax picks: NaN never wins, the lowest index
//    among equals (-0 == +0), +inf above every finite value, index 0 when every logit
//    is -inf or NaN;
//  - top_k_rows gives the first k of sampling::sort_top over the sanitized logits
//    (NaN -> -inf, +inf -> FLT_MAX): value descending, ties by ascending index.
// One CTA per row (select::kThreads threads); no workspace.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

// logits: device, [n_rows, n_vocab] f32, rows contiguous; out: device, [n_rows] i32.
// cudaErrorInvalidValue unless 1 <= n_vocab <= INT32_MAX and 0 <= n_rows <= INT32_MAX.
cudaError_t argmax_rows(const float* logits, int64_t n_rows, int64_t n_vocab, int32_t* out, cudaStream_t stream);

// out_ids: device, [n_rows, k] i32; out_values: device, [n_rows, k] f32 (the sanitized
// logits of those ids; may be null), each row best first.
// cudaErrorInvalidValue unless 1 <= k <= min(select::kMaxK = 64, n_vocab) and the
// argmax_rows bounds hold (a caller with k > n_vocab asks for min(k, n_vocab)).
cudaError_t top_k_rows(const float* logits, int64_t n_rows, int64_t n_vocab, int32_t k, int32_t* out_ids,
                       float* out_values, cudaStream_t stream);

}  // namespace tandem::gpu
