#include "engine/model_config.h"

#include <cmath>
#include <string_view>

#include "storage/gguf.h"

namespace tandem {
namespace {

Result<int32_t> get_positive(const gguf::File& f, const std::string& key, int64_t max) {
  auto v = f.get_uint(key);
  if (!v) return v.error();
  if (*v == 0 || *v > static_cast<uint64_t>(max))
    return Error(Code::kBadGguf) << f.path() << ": " << key << " = " << *v
                                 << " is outside [1, " << max << "]";
  return static_cast<int32_t>(*v);
}

Result<int32_t> get_positive_or(const gguf::File& f, const std::string& key, int64_t max,
                                int32_t fallback) {
  if (f.find(key) == nullptr) return fallback;
  return get_positive(f, key, max);
}

Result<float> get_float_or(const gguf::File& f, const std::string& key, float fallback) {
  if (f.find(key) == nullptr) return fallback;
  auto v = f.get_float(key);
  if (!v) return v.error();
  if (!std::isfinite(*v)) return Error(Code::kBadGguf) << f.path() << ": " << key << " is not finite";
  return static_cast<float>(*v);
}

}  // namespace

const char* arch_name(Arch a) { return a == Arch::kLlama ? "llama" : "qwen2"; }

Result<ModelConfig> read_model_config(const gguf::File& f) {
  ModelConfig c;
  TANDEM_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (arch == "llama") {
    c.arch = Arch::kLlama;
  } else if (arch == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_style = cpu::RopeStyle::kNeox;
    c.has_qkv_bias = true;
  } else {
    return Error(Code::kUnsupported) << f.path() << ": architecture '" << arch
                                     << "' is not supported (supported: llama, qwen2)";
  }
  if (auto n = f.get_string("general.name")) c.name = *n;
  const std::string p = arch + ".";
  constexpr int64_t kMaxDim = 1 << 20;
  TANDEM_ASSIGN_OR_RETURN(c.n_embd, get_positive(f, p + "embedding_length", kMaxDim));
  TANDEM_ASSIGN_OR_RETURN(c.n_layer, get_positive(f, p + "block_count", 4096));
  TANDEM_ASSIGN_OR_RETURN(c.n_ff, get_positive(f, p + "feed_forward_length", kMaxDim));
  TANDEM_ASSIGN_OR_RETURN(c.n_head, get_positive(f, p + "attention.head_count", 4096));
  TANDEM_ASSIGN_OR_RETURN(c.n_head_kv, get_positive_or(f, p + "attention.head_count_kv", 4096, c.n_head));
  TANDEM_ASSIGN_OR_RETURN(c.n_ctx_train, get_positive_or(f, p + "context_length", 1 << 24, 2048));
  if (c.n_embd % c.n_head != 0 && f.find(p + "attention.key_length") == nullptr)
    return Error(Code::kBadGguf) << f.path() << ": embedding_length " << c.n_embd
                                 << " is not a multiple of head_count " << c.n_head;
  TANDEM_ASSIGN_OR_RETURN(c.head_dim, get_positive_or(f, p + "attention.key_length", 4096, c.n_embd / c.n_head));
  if (f.find(p + "attention.value_length") != nullptr) {
    TANDEM_ASSIGN_OR_RETURN(int32_t vdim, get_positive(f, p + "attention.value_length", 4096));
    if (vdim != c.head_dim)
      return Error(Code::kUnsupported) << f.path() << ": value_length " << vdim
                                       << " differs from key_length " << c.head_dim;
  }
  if (c.n_head % c.n_head_kv != 0)
    return Error(Code::kBadGguf) << f.path() << ": head_count " << c.n_head
                                 << " is not a multiple of head_count_kv " << c.n_head_kv;
  TANDEM_ASSIGN_OR_RETURN(c.n_rot, get_positive_or(f, p + "rope.dimension_count", 4096, c.head_dim));
  if (c.n_rot % 2 != 0 || c.n_rot > c.head_dim)
    return Error(Code::kBadGguf) << f.path() << ": rope.dimension_count " << c.n_rot
                                 << " must be even and at most the head dim " << c.head_dim;
  TANDEM_ASSIGN_OR_RETURN(c.rms_eps, get_float_or(f, p + "attention.layer_norm_rms_epsilon", 1e-5f));
  TANDEM_ASSIGN_OR_RETURN(c.rope_freq_base, get_float_or(f, p + "rope.freq_base", 10000.f));
  if (c.rms_eps <= 0 || c.rope_freq_base <= 0)
    return Error(Code::kBadGguf) << f.path() << ": rms epsilon and rope.freq_base must be positive";
  if (auto st = f.get_string(p + "rope.scaling.type")) {
    if (*st == "linear") {
      TANDEM_ASSIGN_OR_RETURN(float factor, get_float_or(f, p + "rope.scaling.factor", 1.f));
      if (factor <= 0) return Error(Code::kBadGguf) << f.path() << ": rope.scaling.factor must be positive";
      c.rope_freq_scale = 1.f / factor;
    } else if (*st != "none") {
      return Error(Code::kUnsupported) << f.path() << ": rope scaling '" << *st
                                       << "' is not supported (none, linear; Llama 3.1 uses rope_freqs)";
    }
  }
  return c;
}

}  // namespace tandem
