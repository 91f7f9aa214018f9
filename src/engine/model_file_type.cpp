#include "engine/model_file_type.h"

#include <algorithm>
#include <cctype>

namespace tandem {
namespace {

// LLAMA_FTYPE_* values (llama.h).
constexpr uint32_t kFtypeAllF32 = 0;
constexpr uint32_t kFtypeF16 = 1;
constexpr uint32_t kFtypeQ4_0 = 2;
constexpr uint32_t kFtypeQ4_1 = 3;
constexpr uint32_t kFtypeQ8_0 = 7;
constexpr uint32_t kFtypeQ5_0 = 8;
constexpr uint32_t kFtypeQ5_1 = 9;
constexpr uint32_t kFtypeQ4_K_S = 14;
constexpr uint32_t kFtypeQ4_K_M = 15;
constexpr uint32_t kFtypeQ5_K_S = 16;
constexpr uint32_t kFtypeQ5_K_M = 17;
constexpr uint32_t kFtypeQ6_K = 18;
constexpr uint32_t kFtypeBF16 = 32;

std::vector<ModelFileType> all_file_types() {
  return {
      {"f32", DType::kF32, kFtypeAllF32, false},   {"f16", DType::kF16, kFtypeF16, false},
      {"bf16", DType::kBF16, kFtypeBF16, false},   {"q8_0", DType::kQ8_0, kFtypeQ8_0, false},
      {"q4_0", DType::kQ4_0, kFtypeQ4_0, false},   {"q4_1", DType::kQ4_1, kFtypeQ4_1, false},
      {"q5_0", DType::kQ5_0, kFtypeQ5_0, false},   {"q5_1", DType::kQ5_1, kFtypeQ5_1, false},
      {"q4_k", DType::kQ4_K, kFtypeQ4_K_S, false}, {"q5_k", DType::kQ5_K, kFtypeQ5_K_S, false},
      {"q6_k", DType::kQ6_K, kFtypeQ6_K, false},   {"q4_k_m", DType::kQ4_K, kFtypeQ4_K_M, true},
      {"q5_k_m", DType::kQ5_K, kFtypeQ5_K_M, true},
  };
}

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

bool fits(DType t, int64_t row_len) { return row_len % traits(t).block_elems == 0; }

// llama.cpp's convert_incompatible_tensor step.
DType fallback(DType t, int64_t row_len) {
  DType f = DType::kF16;
  switch (t) {
    case DType::kQ4_K: f = DType::kQ5_0; break;
    case DType::kQ5_K: f = DType::kQ5_1; break;
    case DType::kQ6_K: f = DType::kQ8_0; break;
    default: break;  // llama.cpp refuses here; F16 always fits
  }
  return fits(f, row_len) ? f : DType::kF16;
}

}  // namespace

std::vector<std::string> model_file_type_names() {
  std::vector<std::string> names;
  for (const ModelFileType& t : all_file_types()) names.push_back(t.name);
  return names;
}

Result<ModelFileType> parse_model_file_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (ModelFileType& t : all_file_types())
    if (t.name == lower) return std::move(t);
  Error e(Code::kInvalidArgument);
  e << "unknown weight type '" << name << "' (known:";
  for (const std::string& n : model_file_type_names()) e << " " << n;
  return std::move(e) << ")";
}

bool use_more_bits(int32_t layer, int32_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

MatrixTypeChoice matrix_type(const ModelFileType& ft, MatrixRole role, int32_t layer,
                             int32_t n_layer, bool tied, int64_t row_len) {
  DType t = ft.base;
  if (is_float(t)) return {t, t};  // llama.cpp applies no rules to unquantized files
  const bool as_output = role == MatrixRole::kOutput || (tied && role == MatrixRole::kTokenEmbd);
  if (as_output) {
    if (!fits(t, row_len)) {
      t = DType::kQ8_0;
    } else if (t != DType::kQ8_0) {
      t = DType::kQ6_K;
    }
  } else if (ft.k_mix && (role == MatrixRole::kAttnV || role == MatrixRole::kFfnDown) &&
             use_more_bits(layer, n_layer)) {
    t = DType::kQ6_K;
  }
  const DType wanted = t;
  if (!fits(t, row_len)) t = fallback(t, row_len);
  return {t, wanted};
}

}  // namespace tandem
