// Tensor element types. Values equal GGML's type ids, so they are what a GGUF file stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeTraits {
  std::string_view name;   // "q4_K" style, as GGML prints it
  int32_t block_elems;     // elements per block (1 for plain types)
  int32_t block_bytes;     // bytes per block
  bool supported;          // Tandem has kernels for it
};

// Traits of a known type id; nullopt for an id Tandem does not know.
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const DTypeTraits& traits(DType t);  // t must be a known type
std::string_view dtype_name(DType t);
// Parses "q4_0", "Q4_K", "f16", "bf16" ... (case-insensitive).
std::optional<DType> parse_dtype(std::string_view s);

// Bytes of a row of n elements; nullopt if n is not a multiple of the block size or
// the product overflows.
std::optional<uint64_t> row_bytes(DType t, uint64_t n);

}  // namespace tandem
