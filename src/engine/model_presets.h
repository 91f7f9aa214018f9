// Shapes of real Llama-family models, for `tandem make-model`: the hyperparameters a
// GGUF file records (not the weights). Also the Llama 3.1 rope-scaling factors that
// such files carry as the `rope_freqs.weight` tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/model_config.h"

namespace tandem {

// Llama 3.1's "llama3" rope scaling (Hugging Face rope_scaling with rope_type llama3).
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int32_t original_context = 8192;  // original_max_position_embeddings
};

struct ModelShape {
  std::string preset;  // "llama3.1-8b"
  Arch arch = Arch::kLlama;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t n_vocab = 0;  // the preset's own vocab size; a copied vocab overrides it
  int32_t n_ctx = 0;    // context_length (training context)
  float rope_base = 10000.f;
  float rms_eps = 1e-5f;
  bool tied = true;      // no output.weight: logits use token_embd
  bool qkv_bias = false; // qwen2: f32 biases on attn_q/k/v
  std::optional<Llama3RopeScaling> rope_scaling;  // writes rope_freqs.weight

  int32_t head_dim() const { return n_embd / n_head; }
  int32_t q_dim() const { return n_head * head_dim(); }
  int32_t kv_dim() const { return n_head_kv * head_dim(); }
};

// tiny, llama3.2-1b, llama2-7b, llama3.1-8b, qwen2.5-0.5b.
std::vector<std::string> preset_names();
// kInvalidArgument naming the known presets for an unknown name.
Result<ModelShape> find_preset(std::string_view name);

// The divisors llama.cpp applies to each rotary frequency (rope_freqs.weight, [n_rot/2]):
// theta_i = pos * base^(-2i/n_rot) / factors[i]. Computed with the published Llama 3.1
// formula: wavelengths shorter than original_context/high_freq_factor keep their
// frequency (1), longer than original_context/low_freq_factor are divided by `factor`,
// and those in between are interpolated smoothly.
std::vector<float> llama3_rope_factors(const Llama3RopeScaling& s, int32_t n_rot, float base);

}  // namespace tandem
