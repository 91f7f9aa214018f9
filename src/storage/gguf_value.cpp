// GGUF metadata values: type names, factories, and the text rendering `tandem inspect`
// prints.
#include <algorithm>
#include <charconv>
#include <cstdio>

#include "storage/gguf.h"
#include "storage/gguf_internal.h"

namespace tandem::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8: return "u8";
    case ValueType::kI8: return "i8";
    case ValueType::kU16: return "u16";
    case ValueType::kI16: return "i16";
    case ValueType::kU32: return "u32";
    case ValueType::kI32: return "i32";
    case ValueType::kF32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kU64: return "u64";
    case ValueType::kI64: return "i64";
    case ValueType::kF64: return "f64";
  }
  return "?";
}

bool is_known_value_type(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::kF64); }

namespace {

Value unsigned_value(ValueType t, uint64_t v) {
  Value out;
  out.type = t;
  out.u = v;
  return out;
}

Value signed_value(ValueType t, int64_t v) {
  Value out;
  out.type = t;
  out.i = v;
  return out;
}

Value float_value(ValueType t, double v) {
  Value out;
  out.type = t;
  out.f = v;
  return out;
}

// Shortest text that reads back as the same float/double.
template <typename T>
std::string shortest(T v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) { len = 2; cp = b0 & 0x1F; }
  else if (b0 >= 0xE0 && b0 <= 0xEF) { len = 3; cp = b0 & 0x0F; }
  else if (b0 >= 0xF0 && b0 <= 0xF4) { len = 4; cp = b0 & 0x07; }
  else return 0;
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void append_escaped_byte(std::string& out, char c) {
  switch (c) {
    case '\n': out += "\\n"; return;
    case '\t': out += "\\t"; return;
    case '\r': out += "\\r"; return;
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  const auto b = static_cast<unsigned char>(c);
  if (b >= 0x20 && b < 0x7F) {
    out += c;
    return;
  }
  char buf[8];
  std::snprintf(buf, sizeof(buf), "\\x%02x", b);
  out += buf;
}

}  // namespace

Value Value::u8(uint8_t v) { return unsigned_value(ValueType::kU8, v); }
Value Value::u16(uint16_t v) { return unsigned_value(ValueType::kU16, v); }
Value Value::u32(uint32_t v) { return unsigned_value(ValueType::kU32, v); }
Value Value::u64(uint64_t v) { return unsigned_value(ValueType::kU64, v); }
Value Value::boolean(bool v) { return unsigned_value(ValueType::kBool, v ? 1 : 0); }
Value Value::i8(int8_t v) { return signed_value(ValueType::kI8, v); }
Value Value::i16(int16_t v) { return signed_value(ValueType::kI16, v); }
Value Value::i32(int32_t v) { return signed_value(ValueType::kI32, v); }
Value Value::i64(int64_t v) { return signed_value(ValueType::kI64, v); }
Value Value::f32(float v) { return float_value(ValueType::kF32, v); }
Value Value::f64(double v) { return float_value(ValueType::kF64, v); }

Value Value::str(std::string v) {
  Value out;
  out.type = ValueType::kString;
  out.s = std::move(v);
  return out;
}

Value Value::array(ValueType elem, std::vector<Value> items) {
  Value out;
  out.type = ValueType::kArray;
  out.elem = elem;
  out.items = std::move(items);
  return out;
}

Value Value::str_array(std::vector<std::string> v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (std::string& s : v) items.push_back(str(std::move(s)));
  return array(ValueType::kString, std::move(items));
}

Value Value::f32_array(std::span<const float> v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float x : v) items.push_back(f32(x));
  return array(ValueType::kF32, std::move(items));
}

Value Value::i32_array(std::span<const int32_t> v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t x : v) items.push_back(i32(x));
  return array(ValueType::kI32, std::move(items));
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kU16: case ValueType::kI16:
    case ValueType::kU32: case ValueType::kI32: case ValueType::kU64: case ValueType::kI64:
      return true;
    default:
      return false;
  }
}

bool Value::is_float() const { return type == ValueType::kF32 || type == ValueType::kF64; }

std::string Value::to_string(size_t max_items) const {
  switch (type) {
    case ValueType::kU8: case ValueType::kU16: case ValueType::kU32: case ValueType::kU64:
      return std::to_string(u);
    case ValueType::kI8: case ValueType::kI16: case ValueType::kI32: case ValueType::kI64:
      return std::to_string(i);
    case ValueType::kF32: return shortest(static_cast<float>(f));
    case ValueType::kF64: return shortest(f);
    case ValueType::kBool: return u != 0 ? "true" : "false";
    case ValueType::kString: return detail::quoted(s, SIZE_MAX);
    case ValueType::kArray: break;
  }
  std::string out = "[";
  const size_t shown = std::min(items.size(), max_items);
  for (size_t k = 0; k < shown; ++k) {
    if (k > 0) out += ", ";
    out += items[k].to_string(max_items);
  }
  if (shown < items.size()) {
    out += shown > 0 ? ", ... (" : "... (";
    out += std::to_string(items.size() - shown) + " more)";
  }
  return out + "]";
}

namespace detail {

std::optional<uint64_t> to_uint(const Value& v) {
  if (!v.is_integer()) return std::nullopt;
  if (v.i < 0) return std::nullopt;
  return v.i > 0 ? static_cast<uint64_t>(v.i) : v.u;  // one of the two fields is 0
}

std::optional<int64_t> to_int(const Value& v) {
  if (!v.is_integer()) return std::nullopt;
  if (v.u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return v.u > 0 ? static_cast<int64_t>(v.u) : v.i;
}

std::string quoted(std::string_view s, size_t max_bytes) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size() && i < max_bytes) {
    const size_t len = utf8_sequence_length(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      append_escaped_byte(out, s[i]);
      ++i;
    }
  }
  out += "\"";
  if (i < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace detail
}  // namespace tandem::gguf
