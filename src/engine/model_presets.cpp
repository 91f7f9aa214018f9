#include "engine/model_presets.h"

#include <cmath>
#include <numbers>

namespace tandem {
namespace {

std::vector<ModelShape> all_presets() {
  std::vector<ModelShape> v;
  ModelShape s;

  s = ModelShape{};
  s.preset = "tiny";
  s.arch = Arch::kLlama;
  s.n_embd = 256, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.n_ff = 512;
  s.n_vocab = 512, s.n_ctx = 2048, s.rope_base = 10000.f, s.rms_eps = 1e-5f, s.tied = true;
  v.push_back(s);

  s = ModelShape{};
  s.preset = "llama3.2-1b";
  s.arch = Arch::kLlama;
  s.n_embd = 2048, s.n_layer = 16, s.n_head = 32, s.n_head_kv = 8, s.n_ff = 8192;
  s.n_vocab = 128256, s.n_ctx = 131072, s.rope_base = 500000.f, s.rms_eps = 1e-5f, s.tied = true;
  s.rope_scaling = Llama3RopeScaling{32.0, 1.0, 4.0, 8192};
  v.push_back(s);

  s = ModelShape{};
  s.preset = "llama2-7b";
  s.arch = Arch::kLlama;
  s.n_embd = 4096, s.n_layer = 32, s.n_head = 32, s.n_head_kv = 32, s.n_ff = 11008;
  s.n_vocab = 32000, s.n_ctx = 4096, s.rope_base = 10000.f, s.rms_eps = 1e-5f, s.tied = false;
  v.push_back(s);

  s = ModelShape{};
  s.preset = "llama3.1-8b";
  s.arch = Arch::kLlama;
  s.n_embd = 4096, s.n_layer = 32, s.n_head = 32, s.n_head_kv = 8, s.n_ff = 14336;
  s.n_vocab = 128256, s.n_ctx = 131072, s.rope_base = 500000.f, s.rms_eps = 1e-5f, s.tied = false;
  s.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 8192};
  v.push_back(s);

  s = ModelShape{};
  s.preset = "qwen2.5-0.5b";
  s.arch = Arch::kQwen2;
  s.n_embd = 896, s.n_layer = 24, s.n_head = 14, s.n_head_kv = 2, s.n_ff = 4864;
  s.n_vocab = 151936, s.n_ctx = 32768, s.rope_base = 1000000.f, s.rms_eps = 1e-6f, s.tied = true;
  s.qkv_bias = true;
  v.push_back(s);
  return v;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const ModelShape& s : all_presets()) names.push_back(s.preset);
  return names;
}

Result<ModelShape> find_preset(std::string_view name) {
  for (ModelShape& s : all_presets())
    if (s.preset == name) return std::move(s);
  Error e(Code::kInvalidArgument);
  e << "unknown model preset '" << name << "' (known:";
  for (const std::string& n : preset_names()) e << " " << n;
  return std::move(e) << ")";
}

std::vector<float> llama3_rope_factors(const Llama3RopeScaling& s, int32_t n_rot, float base) {
  const double low_freq_wavelen = s.original_context / s.low_freq_factor;
  const double high_freq_wavelen = s.original_context / s.high_freq_factor;
  std::vector<float> factors(static_cast<size_t>(n_rot / 2));
  for (int32_t i = 0; i < n_rot / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(base), 2.0 * i / n_rot);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      f = s.factor;
    } else {
      const double smooth = (s.original_context / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / s.factor + smooth);
    }
    factors[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return factors;
}

}  // namespace tandem
