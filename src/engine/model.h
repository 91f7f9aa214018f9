// A loaded model: the mapped GGUF file, its configuration and views of its weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "cpu/packed.h"
#include "engine/model_config.h"
#include "storage/gguf.h"

namespace tandem {

// A weight tensor inside the mapping. Matrices are [rows, cols] row-major in GGUF's
// sense: cols = ne[0] (contiguous), rows = ne[1].
struct WeightView {
  const void* data = nullptr;
  DType type = DType::kF32;
  int64_t cols = 0;
  int64_t rows = 0;  // 1 for vectors
  std::string name;
  // The same matrix re-laid out for this CPU's kernels (cpu/packed.h), owned by the
  // Model, or null. `data` stays valid either way.
  const cpu::PackedMatrix* packed = nullptr;
  bool present() const { return data != nullptr; }
};

struct LayerWeights {
  WeightView attn_norm;                  // [n_embd] f32
  WeightView wq, wk, wv;                 // [q_dim | kv_dim, n_embd]
  WeightView bq, bk, bv;                 // qwen2 biases, f32, or absent
  WeightView wo;                         // [n_embd, q_dim]
  WeightView ffn_norm;                   // [n_embd] f32
  WeightView w_gate, w_up;               // [n_ff, n_embd]
  WeightView w_down;                     // [n_embd, n_ff]
};

struct ModelLoadOptions {
  // Re-lay out the matrices the CPU kernels have a packed layout for (cpu::packable on
  // cpu::runtime_isa()) and release the mapped pages of those copied. Costs a pass over
  // the weights at load; off for callers that only read metadata.
  bool pack_for_cpu = true;
  // Layers [cpu_layers, n_layer) and, without cpu_head, the output matrix run on a
  // device (engine/device_layers.h): they are not packed (-1: every layer on the CPU).
  int32_t cpu_layers = -1;
  bool cpu_head = true;
};

class Model {
 public:
  // Opens, parses and validates a model: every tensor's presence, shape and type.
  static Result<std::unique_ptr<Model>> load(const std::string& path, const ModelLoadOptions& o = {});

  const ModelConfig& config() const { return config_; }
  const gguf::File& file() const { return file_; }
  const WeightView& token_embd() const { return token_embd_; }  // [n_vocab, n_embd]
  const WeightView& output_norm() const { return output_norm_; }
  const WeightView& output() const { return output_; }          // token_embd when tied
  bool tied_output() const { return tied_; }
  const WeightView& rope_freqs() const { return rope_freqs_; }  // [n_rot/2] f32 or absent
  const std::vector<LayerWeights>& layers() const { return layers_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Bytes of the packed copies (0 when nothing was packed).
  uint64_t packed_bytes() const { return packed_bytes_; }

 private:
  explicit Model(gguf::File f) : file_(std::move(f)) {}
  Status bind_weights();
  Status pack_weights(int32_t cpu_layers, bool cpu_head);

  gguf::File file_;
  ModelConfig config_;
  WeightView token_embd_, output_norm_, output_, rope_freqs_;
  bool tied_ = false;
  std::vector<LayerWeights> layers_;
  uint64_t weight_bytes_ = 0;
  std::vector<std::unique_ptr<cpu::PackedMatrix>> packed_;  // what WeightView::packed points at
  uint64_t packed_bytes_ = 0;
};

}  // namespace tandem
