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
constexpr uint32_t kFtypeQ2_K = 10;
constexpr uint32_t kFtypeQ3_K_M = 12;
constexpr uint32_t kFtypeQ4_K_S = 14;
constexpr uint32_t kFtypeQ4_K_M = 15;
constexpr uint32_t kFtypeQ5_K_S = 16;
constexpr uint32_t kFtypeQ5_K_M = 17;
constexpr uint32_t kFtypeQ6_K = 18;
constexpr uint32_t kFtypeBF16 = 32;

std::vector<ModelFileType> all_file_types() {
  using enum TypeMix;
  return {
      {"f32", DType::kF32, kFtypeAllF32, kNone},     {"f16", DType::kF16, kFtypeF16, kNone},
      {"bf16", DType::kBF16, kFtypeBF16, kNone},     {"q8_0", DType::kQ8_0, kFtypeQ8_0, kNone},
      {"q4_0", DType::kQ4_0, kFtypeQ4_0, kNone},     {"q4_1", DType::kQ4_1, kFtypeQ4_1, kNone},
      {"q5_0", DType::kQ5_0, kFtypeQ5_0, kNone},     {"q5_1", DType::kQ5_1, kFtypeQ5_1, kNone},
      {"q2_k", DType::kQ2_K, kFtypeQ2_K, kQ2_K},     {"q4_k", DType::kQ4_K, kFtypeQ4_K_S, kNone},
      {"q5_k", DType::kQ5_K, kFtypeQ5_K_S, kNone},   {"q6_k", DType::kQ6_K, kFtypeQ6_K, kNone},
      {"q3_k_m", DType::kQ3_K, kFtypeQ3_K_M, kQ3_K_M}, {"q4_k_m", DType::kQ4_K, kFtypeQ4_K_M, kMoreBits},
      {"q5_k_m", DType::kQ5_K, kFtypeQ5_K_M, kMoreBits},
  };
}

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

bool fits(DType t, int64_t row_len) { return row_len % traits(t).block_elems == 0; }

// llama.cpp's convert_incompatible_tensor step.
DType fallback(DType t, int64_t row_len) {
  DType f = DType::kF16;
  switch (t) {
    case DType::kQ2_K:
    case DType::kQ3_K: f = DType::kQ4_0; break;
    case DType::kQ4_K: f = DType::kQ5_0; break;
    case DType::kQ5_K: f = DType::kQ5_1; break;
    case DType::kQ6_K: f = DType::kQ8_0; break;
    default: break;  // llama.cpp refuses here; F16 always fits
  }
  return fits(f, row_len) ? f : DType::kF16;
}

// The rules of q2_k and q3_k_m (llama_tensor_get_type for dense, non-70B models).
DType low_bit_mix_type(TypeMix mix, DType base, MatrixRole role, int32_t layer, int32_t n_layer,
                       int32_t n_gqa) {
  const bool q2 = mix == TypeMix::kQ2_K;
  switch (role) {
    case MatrixRole::kAttnV:
      if (q2) return n_gqa >= 4 ? DType::kQ4_K : DType::kQ3_K;
      return layer < 2 ? DType::kQ5_K : DType::kQ4_K;
    case MatrixRole::kAttnOutput: return q2 ? DType::kQ3_K : DType::kQ4_K;
    case MatrixRole::kFfnDown:
      if (q2) return DType::kQ3_K;
      return layer < n_layer / 16 ? DType::kQ5_K : DType::kQ4_K;
    default: return base;
  }
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
                             int32_t n_layer, bool tied, int64_t row_len, int32_t n_gqa) {
  DType t = ft.base;
  if (is_float(t)) return {t, t};  // llama.cpp applies no rules to unquantized files
  const bool as_output = role == MatrixRole::kOutput || (tied && role == MatrixRole::kTokenEmbd);
  if (as_output) {
    if (!fits(t, row_len)) {
      t = DType::kQ8_0;
    } else if (t != DType::kQ8_0) {
      t = DType::kQ6_K;
    }
  } else if (ft.mix == TypeMix::kMoreBits && (role == MatrixRole::kAttnV || role == MatrixRole::kFfnDown) &&
             use_more_bits(layer, n_layer)) {
    t = DType::kQ6_K;
  } else if (ft.mix == TypeMix::kQ2_K || ft.mix == TypeMix::kQ3_K_M) {
    t = low_bit_mix_type(ft.mix, t, role, layer, n_layer, n_gqa);
  }
  const DType wanted = t;
  if (!fits(t, row_len)) t = fallback(t, row_len);
  return {t, wanted};
}

}  // namespace tandem
