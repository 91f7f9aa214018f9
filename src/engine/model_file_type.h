// The weight type of a whole model file (`--type q4_k_m`), as llama.cpp's quantizer
// defines it: a base tensor type, a `general.file_type` number (LLAMA_FTYPE_*), and
// the rules that give some tensors another type (llama-quant.cpp's
// llama_tensor_get_type, default settings, no imatrix, for llama/qwen2 dense models).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace tandem {

// Which of llama.cpp's per-tensor rules a file type adds to the output rule (see
// matrix_type).
enum class TypeMix {
  kNone,
  kMoreBits,  // q4_k_m / q5_k_m: attn_v and ffn_down "use more bits"
  kQ2_K,      // q2_k: attn_v, attn_output and ffn_down get more bits
  kQ3_K_M,    // q3_k_m: the same, by other rules
};

struct ModelFileType {
  std::string name;          // "q4_k_m", as given to --type
  DType base = DType::kF16;  // the type most matrices get
  uint32_t llama_ftype = 1;  // general.file_type: LLAMA_FTYPE_MOSTLY_* (1 = F16)
  TypeMix mix = TypeMix::kNone;
};

// f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q4_k q5_k q6_k q3_k_m q4_k_m q5_k_m.
std::vector<std::string> model_file_type_names();
// Case-insensitive; kInvalidArgument naming the known types otherwise.
// q4_k and q5_k are "all Q4_K / Q5_K" (output Q6_K); llama.cpp has no file type of its
// own for them, so they are labelled Q4_K_S (14) / Q5_K_S (16), the closest mixes.
Result<ModelFileType> parse_model_file_type(std::string_view name);

// What a tensor is, for the type rules. Vectors (norms, biases, rope_freqs) are
// always F32 and never go through these rules.
enum class MatrixRole { kTokenEmbd, kOutput, kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnGate, kFfnUp, kFfnDown };

struct MatrixTypeChoice {
  DType type;     // what the tensor gets
  DType wanted;   // what the rules asked for; differs when the row length forced a fallback
};

// llama.cpp's choice for a 2-D weight. `layer` is the block index (ignored for
// token_embd/output); `tied` says the model has no output.weight, so token_embd is
// quantized like an output tensor; `row_len` is ne[0]; `n_gqa` is n_head / n_head_kv
// (llama.cpp's n_gqa(), which the q2_k rule reads).
//  - output (or tied token_embd): Q8_0 if the row is not a multiple of the base
//    type's block, else Q6_K unless the base is Q8_0 (float bases stay as they are);
//  - q4_k_m / q5_k_m: attn_v and ffn_down get Q6_K in the layers use_more_bits picks
//    (i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2);
//  - q2_k: attn_v gets Q4_K if n_gqa >= 4, else Q3_K; attn_output and ffn_down Q3_K;
//  - q3_k_m: attn_v gets Q5_K in layers 0 and 1, else Q4_K; attn_output Q4_K; ffn_down
//    Q5_K in layers i < n/16, else Q4_K;
//    (llama.cpp's 70B-only and mixture-of-experts rules do not apply to our models);
//  - a row length that is not a multiple of the chosen type's block falls back as
//    llama.cpp does: Q2_K, Q3_K -> Q4_0 (llama.cpp's tensor_type_fallback; releases
//    before it picked IQ4_NL, a type Tandem lacks), Q4_K -> Q5_0, Q5_K -> Q5_1,
//    Q6_K -> Q8_0, and then (or for a legacy type) F16 if still not a multiple.
MatrixTypeChoice matrix_type(const ModelFileType& ft, MatrixRole role, int32_t layer,
                             int32_t n_layer, bool tied, int64_t row_len, int32_t n_gqa);

// llama.cpp's use_more_bits(i_layer, n_layers).
bool use_more_bits(int32_t layer, int32_t n_layer);

}  // namespace tandem
