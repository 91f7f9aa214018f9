// `tandem make-model`: a GGUF model with random weights of a real shape (model_presets.h),
// in any weight type (model_file_type.h), with a vocabulary that is copied from another
// GGUF file, built from a tiktoken tokenizer.model, or made up (made_up_vocab.h).
// Deterministic from the seed; streamed, so an 8B model needs little memory.
//
//   ModelMakerConfig c{.preset = "llama3.1-8b", .type = "q4_0", .out_path = "m.gguf"};
//   TANDEM_ASSIGN_OR_RETURN(MadeModel m, make_model(c));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/model_plan.h"
#include "engine/model_writer.h"
#include "storage/gguf.h"

namespace tandem {

struct ModelMakerConfig {
  std::string preset;         // model_presets.h: tiny, llama3.2-1b, llama2-7b, llama3.1-8b, qwen2.5-0.5b
  std::string type = "f16";   // model_file_type.h: f32 ... q5_k_m
  std::string out_path;
  std::string vocab_path;     // copy every tokenizer.* key of this GGUF (sets n_vocab)
  std::string tiktoken_path;  // or build the vocab from a Llama 3 tiktoken tokenizer.model
  uint64_t seed = 1;
  int32_t threads = 0;        // 0: all cores
};

// The tokenizer.* keys a model gets, and their token count.
struct VocabKeys {
  std::vector<gguf::KeyValue> kv;
  int32_t n_vocab = 0;
  std::string source;  // "made-up SPM vocab", or the file it came from
};

// From vocab_path, tiktoken_path or (neither) a made-up vocab of `preset_n_vocab`
// tokens. Giving both paths is kInvalidArgument; file errors name the file.
Result<VocabKeys> make_vocab_keys(const ModelMakerConfig& c, int32_t preset_n_vocab);

// Checks the config and builds the plan (no file is written). Errors
// (kInvalidArgument) name the bad preset, type, flag combination or empty path.
Result<ModelPlan> plan_made_model(const ModelMakerConfig& c);

struct MadeModel {
  ModelPlan plan;
  uint64_t file_bytes = 0;
};

// Plans and writes the model. An unwritable path fails before any weight is made.
Result<MadeModel> make_model(const ModelMakerConfig& c, const WriteProgressFn& progress = {});

}  // namespace tandem
