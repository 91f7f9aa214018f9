// Rotary position embedding on the GPU; the contract of cpu::rope_ref, for a batch of
// tokens at arbitrary positions. For pair i < n_rot/2 of each head:
//   theta_i = pos * freq_scale * theta_scale^i / freq_factors[i],
//   theta_scale = freq_base^(-2 / n_rot)
// and the pair (2i, 2i+1) (kNormal, Llama) or (i, i + n_rot/2) (kNeox, Qwen2) is
// rotated by theta_i. Dimensions past n_rot are left as they are.
// theta_scale is computed on the host and theta_i by repeated multiplication, exactly
// as rope_ref does, so only cos/sin (a couple of ulp) differ from the reference.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tandem::gpu {

enum class RopeStyle { kNormal, kNeox };

struct RopeArgs {
  int32_t n_tokens = 0;
  int32_t n_heads = 0;
  int32_t head_dim = 0;
  int32_t n_rot = 0;                     // even, <= head_dim
  float freq_base = 10000.f;
  float freq_scale = 1.f;
  RopeStyle style = RopeStyle::kNormal;
  const int32_t* positions = nullptr;    // device, [n_tokens]
  const float* freq_factors = nullptr;   // device, [n_rot / 2], or null (Llama 3.1 rope_freqs)
};

// x: device, [n_tokens, n_heads, head_dim], rotated in place. cudaErrorInvalidValue
// for an odd or too large n_rot.
cudaError_t rope_f32(float* x, const RopeArgs& a, cudaStream_t stream);
cudaError_t rope_f16(__half* x, const RopeArgs& a, cudaStream_t stream);

}  // namespace tandem::gpu
