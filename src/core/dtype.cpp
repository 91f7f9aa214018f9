#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "core/check.h"

namespace tandem {
namespace {

struct Entry {
  uint32_t id;
  DTypeTraits t;
};

// Block layouts: see core/quant_blocks.h for the byte layout of each block type.
constexpr std::array<Entry, 20> kTypes = {{
    {0, {"f32", 1, 4, true}},
    {1, {"f16", 1, 2, true}},
    {2, {"q4_0", 32, 18, true}},
    {3, {"q4_1", 32, 20, true}},
    {6, {"q5_0", 32, 22, true}},
    {7, {"q5_1", 32, 24, true}},
    {8, {"q8_0", 32, 34, true}},
    {9, {"q8_1", 32, 36, false}},
    {10, {"q2_K", 256, 84, true}},
    {11, {"q3_K", 256, 110, true}},
    {12, {"q4_K", 256, 144, true}},
    {13, {"q5_K", 256, 176, true}},
    {14, {"q6_K", 256, 210, true}},
    {15, {"q8_K", 256, 292, true}},
    {24, {"i8", 1, 1, false}},
    {25, {"i16", 1, 2, false}},
    {26, {"i32", 1, 4, false}},
    {27, {"i64", 1, 8, false}},
    {28, {"f64", 1, 8, false}},
    {30, {"bf16", 1, 2, true}},
}};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  for (const Entry& e : kTypes)
    if (e.id == id) return e.t;
  return std::nullopt;
}

const DTypeTraits& traits(DType t) {
  for (const Entry& e : kTypes)
    if (e.id == static_cast<uint32_t>(t)) return e.t;
  TANDEM_CHECK(false) << "unknown dtype id " << static_cast<uint32_t>(t);
  __builtin_unreachable();
}

std::string_view dtype_name(DType t) { return traits(t).name; }

std::optional<DType> parse_dtype(std::string_view s) {
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Entry& e : kTypes) {
    std::string name;
    for (char c : e.t.name) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == lower) return static_cast<DType>(e.id);
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType t, uint64_t n) {
  const DTypeTraits& tr = traits(t);
  const uint64_t be = static_cast<uint64_t>(tr.block_elems);
  if (n % be != 0) return std::nullopt;
  const uint64_t blocks = n / be;
  const uint64_t bb = static_cast<uint64_t>(tr.block_bytes);
  if (blocks != 0 && bb > UINT64_MAX / blocks) return std::nullopt;
  return blocks * bb;
}

}  // namespace tandem
