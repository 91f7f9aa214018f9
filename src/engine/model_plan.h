// Everything a synthetic model file holds except its weight values: the metadata and
// the list of tensors with their shapes, types and how to draw each one's values. A
// pure function of the shape, the file type and the vocab, so tests check the plan of
// an 8B model without writing a byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "engine/model_file_type.h"
#include "engine/model_presets.h"
#include "storage/gguf.h"

namespace tandem {

// How a tensor's values are drawn (z: the tensor's standard normal stream, see
// random_weights.h). The scheme of the golden synthetic models (shared/golden/README.md):
// a matrix with fan_in n is N(0, c^2/n), c = 1.4 for attn_q/attn_k and 1 otherwise;
// token_embd and output N(0, 0.1^2); norms 1 + N(0, 0.1^2) clipped to [0.5, 1.5];
// qwen2 biases N(0, 0.2^2).
enum class WeightInit {
  kNormal,      // std * z
  kNormWeight,  // clamp(1 + std * z, 0.5, 1.5)
  kFixed,       // PlannedTensor::values (rope_freqs)
};

struct PlannedTensor {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first: dims[0] is the row length
  DType type = DType::kF32;
  DType wanted = DType::kF32;  // the type the rules asked for (differs after a fallback)
  WeightInit init = WeightInit::kNormal;
  float std = 0.f;
  std::vector<float> values;   // kFixed: all elements

  int64_t row_len() const { return static_cast<int64_t>(dims[0]); }
  int64_t rows() const;
  uint64_t n_elements() const;
  uint64_t nbytes() const;
};

struct ModelPlan {
  ModelShape shape;                      // n_vocab is the vocab's size
  ModelFileType file_type;
  std::vector<gguf::KeyValue> metadata;  // general.*, <arch>.*, tokenizer.*, tandem.*
  std::vector<PlannedTensor> tensors;    // in file order
  std::vector<std::string> notes;        // type fallbacks, one line per kind

  uint64_t data_bytes() const;  // sum of nbytes (padding not counted)
};

// `vocab_kv`: the tokenizer.* keys to write; `n_vocab`: their token count (rows of
// token_embd/output). Errors (kInvalidArgument) on a shape the engine cannot run
// (n_embd not a multiple of n_head, n_head not a multiple of n_head_kv, odd head_dim).
Result<ModelPlan> plan_model(const ModelShape& shape, const ModelFileType& ft,
                             std::vector<gguf::KeyValue> vocab_kv, int32_t n_vocab,
                             uint64_t seed);

}  // namespace tandem
