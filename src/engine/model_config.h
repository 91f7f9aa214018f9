// Hyperparameters of a Llama-family model, read from GGUF metadata and validated.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "cpu/ops_ref.h"

namespace tandem::gguf { class File; }

namespace tandem {

enum class Arch { kLlama, kQwen2 };
const char* arch_name(Arch a);

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string name;           // general.name, informative
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_ff = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;       // attention.key_length, default n_embd / n_head
  int32_t n_rot = 0;          // rope.dimension_count, default head_dim
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.f;
  float rope_freq_scale = 1.f;  // 1 / rope.scaling.factor for linear scaling
  cpu::RopeStyle rope_style = cpu::RopeStyle::kNormal;
  bool has_qkv_bias = false;    // qwen2

  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads `<arch>.*` keys; errors name the file and the key.
Result<ModelConfig> read_model_config(const gguf::File& f);

}  // namespace tandem
