// Pieces shared by the GGUF reader and writer (not part of the public API): a
// bounds-checked little-endian cursor, tensor size rules and text escaping.
// Errors made here carry only the detail ("... at offset 12 ..."); the caller puts the
// file name and the key or tensor in front.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/dtype.h"
#include "core/status.h"
#include "storage/gguf.h"

namespace tandem::gguf::detail {

static_assert(std::endian::native == std::endian::little,
              "GGUF files are read and written little-endian by memcpy");

// A rendering of `s` safe for one line of an error message or listing: quoted, control
// and non-ASCII bytes as \xNN (plus \n \t \" \\), cut after `max_bytes` with "...".
std::string quoted(std::string_view s, size_t max_bytes = 80);

// The integer in `v` as u64 / i64: nullopt for a non-integer type or a value that
// does not fit.
std::optional<uint64_t> to_uint(const Value& v);
std::optional<int64_t> to_int(const Value& v);

// Rounds `x` up to a multiple of `alignment` (a power of two); false on overflow.
bool align_up(uint64_t x, uint64_t alignment, uint64_t* out);
inline bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Element count and byte size of a tensor of `dims` (ne[0] first) and `type`. Errors
// (kBadGguf, detail only) for 0 or more than kMaxDims dims, a zero dim, an element
// count past INT64_MAX, or a row length that is not a multiple of the type's block.
struct TensorSize {
  uint64_t n_elements = 0;
  uint64_t nbytes = 0;
};
Result<TensorSize> tensor_size(std::span<const uint64_t> dims, DType type);

// Reads little-endian fields from a byte span, never past its end.
class Cursor {
 public:
  explicit Cursor(std::span<const std::byte> bytes) : bytes_(bytes) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  // Error unless `n` more bytes are there; `what` names the field.
  Status need(uint64_t n, std::string_view what) const {
    if (n <= remaining()) return Status::ok();
    return Error(Code::kBadGguf) << what << " at offset " << pos_ << " needs " << n
                                 << " bytes, but only " << remaining()
                                 << " are left (file size " << size() << ")";
  }

  template <typename T>
  Result<T> read(std::string_view what) {
    static_assert(std::is_arithmetic_v<T>);
    TANDEM_TRY(need(sizeof(T), what));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A u64 length and that many bytes.
  Result<std::string> read_string(std::string_view what) {
    const uint64_t at = pos_;
    TANDEM_ASSIGN_OR_RETURN(const uint64_t len, read<uint64_t>(what));
    if (len > remaining())
      return Error(Code::kBadGguf) << what << " at offset " << at << " has length " << len
                                   << ", but only " << remaining()
                                   << " bytes are left (file size " << size() << ")";
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  uint64_t pos_ = 0;
};

}  // namespace tandem::gguf::detail
