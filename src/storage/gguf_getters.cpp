// Typed metadata getters of gguf::File: lookups, conversions between integer widths,
// and errors that name the key and both types.
#include <limits>

#include "storage/gguf.h"
#include "storage/gguf_internal.h"

namespace tandem::gguf {
namespace {

std::string type_of(const Value& v) {
  if (v.type != ValueType::kArray) return value_type_name(v.type);
  return std::string("array of ") + value_type_name(v.elem);
}

Error mismatch(const std::string& path, std::string_view key, const Value& v,
               std::string_view expected) {
  return Error(Code::kBadGguf) << path << ": metadata key " << detail::quoted(key) << " is "
                               << type_of(v) << ", expected " << expected;
}

bool is_integer_type(ValueType t) {
  Value probe;
  probe.type = t;
  return probe.is_integer();
}

}  // namespace

Result<const Value*> File::lookup(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr)
    return Error(Code::kNotFound) << path_ << ": metadata key " << detail::quoted(key)
                                  << " not found";
  return v;
}

Result<std::string> File::get_string(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->type != ValueType::kString) return mismatch(path_, key, *v, "string");
  return v->s;
}

Result<uint64_t> File::get_uint(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (!v->is_integer()) return mismatch(path_, key, *v, "an unsigned integer");
  const std::optional<uint64_t> u = detail::to_uint(*v);
  if (!u)
    return Error(Code::kBadGguf) << path_ << ": metadata key " << detail::quoted(key) << " = "
                                 << v->i << " is negative, expected an unsigned integer";
  return *u;
}

Result<int64_t> File::get_int(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (!v->is_integer()) return mismatch(path_, key, *v, "an integer");
  const std::optional<int64_t> i = detail::to_int(*v);
  if (!i)
    return Error(Code::kBadGguf) << path_ << ": metadata key " << detail::quoted(key) << " = "
                                 << v->u << " does not fit in i64";
  return *i;
}

Result<double> File::get_float(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->is_float()) return v->f;
  if (const std::optional<int64_t> i = detail::to_int(*v)) return static_cast<double>(*i);
  if (const std::optional<uint64_t> u = detail::to_uint(*v)) return static_cast<double>(*u);
  return mismatch(path_, key, *v, "a number");
}

Result<bool> File::get_bool(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->type != ValueType::kBool) return mismatch(path_, key, *v, "bool");
  return v->u != 0;
}

Result<std::vector<std::string>> File::get_string_array(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->type != ValueType::kArray || v->elem != ValueType::kString)
    return mismatch(path_, key, *v, "array of string");
  std::vector<std::string> out;
  out.reserve(v->items.size());
  for (const Value& item : v->items) out.push_back(item.s);
  return out;
}

Result<std::vector<float>> File::get_f32_array(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->type != ValueType::kArray || (v->elem != ValueType::kF32 && v->elem != ValueType::kF64))
    return mismatch(path_, key, *v, "array of f32");
  std::vector<float> out;
  out.reserve(v->items.size());
  for (const Value& item : v->items) out.push_back(static_cast<float>(item.f));
  return out;
}

Result<std::vector<int32_t>> File::get_i32_array(std::string_view key) const {
  TANDEM_ASSIGN_OR_RETURN(const Value* v, lookup(key));
  if (v->type != ValueType::kArray || !is_integer_type(v->elem))
    return mismatch(path_, key, *v, "array of i32");
  std::vector<int32_t> out;
  out.reserve(v->items.size());
  for (size_t k = 0; k < v->items.size(); ++k) {
    const std::optional<int64_t> i = detail::to_int(v->items[k]);
    if (!i || *i < std::numeric_limits<int32_t>::min() || *i > std::numeric_limits<int32_t>::max())
      return Error(Code::kBadGguf) << path_ << ": metadata key " << detail::quoted(key)
                                   << ": item " << k << " = " << v->items[k].to_string()
                                   << " does not fit in i32";
    out.push_back(static_cast<int32_t>(*i));
  }
  return out;
}

}  // namespace tandem::gguf
