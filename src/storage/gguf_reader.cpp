// GGUF parsing: preamble, metadata, tensor infos and the data layout, every size and
// offset checked against the bytes that are really there before it is used.
#include <unordered_map>

#include "storage/gguf.h"
#include "storage/gguf_internal.h"

namespace tandem::gguf {
namespace {

using detail::Cursor;
using detail::quoted;

constexpr uint32_t kMagic = 0x46554747;                 // "GGUF" read as a little-endian u32
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

struct Preamble {
  uint32_t version = 0;
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
};

// What a successful parse yields; File::parse moves it into a File.
struct Parsed {
  uint32_t version = 0;
  uint64_t alignment = kDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<KeyValue> kv;
  std::vector<TensorInfo> tensors;
};

Error with_context(const Error& e, std::string_view context) {
  return Error(e.code(), std::string(context) + ": " + e.message());
}

// "[start, end)" for `n` bytes at `start`, without wrapping when the end overflows.
std::string byte_range(uint64_t start, uint64_t n) {
  uint64_t end = 0;
  if (__builtin_add_overflow(start, n, &end))
    return "[" + std::to_string(start) + ", " + std::to_string(start) + " + " +
           std::to_string(n) + ")";
  return "[" + std::to_string(start) + ", " + std::to_string(end) + ")";
}

Status check_count(const Cursor& c, uint64_t count, uint64_t min_bytes, std::string_view what,
                   uint64_t at) {
  if (count <= c.remaining() / min_bytes) return Status::ok();
  return Error(Code::kBadGguf) << what << " " << count << " at offset " << at
                               << " cannot fit in the " << c.remaining()
                               << " bytes left (each takes at least " << min_bytes << ")";
}

Status check_version(uint32_t version) {
  if (version >= kMinVersion && version <= kMaxVersion) return Status::ok();
  if (version == 1)
    return Error(Code::kBadGguf)
           << "GGUF version 1 at offset 4 is not supported (it has 32-bit counts); "
              "convert the model again with a current llama.cpp";
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped >= kMinVersion && swapped <= kMaxVersion)
    return Error(Code::kBadGguf) << "version field at offset 4 reads " << version
                                 << ": this is a big-endian GGUF file, only little-endian "
                                    "files are supported";
  return Error(Code::kBadGguf) << "unsupported GGUF version " << version
                               << " at offset 4 (supported: " << kMinVersion << " to "
                               << kMaxVersion << ")";
}

Result<Preamble> read_preamble(Cursor& c) {
  TANDEM_ASSIGN_OR_RETURN(const uint32_t magic, c.read<uint32_t>("magic"));
  if (magic != kMagic) {
    const std::string seen(reinterpret_cast<const char*>(&magic), sizeof(magic));
    return Error(Code::kBadGguf) << "bad magic " << quoted(seen)
                                 << " at offset 0 (expected \"GGUF\"): not a GGUF file";
  }
  Preamble p;
  TANDEM_ASSIGN_OR_RETURN(p.version, c.read<uint32_t>("version"));
  TANDEM_TRY(check_version(p.version));
  TANDEM_ASSIGN_OR_RETURN(p.n_tensors, c.read<uint64_t>("tensor count"));
  TANDEM_ASSIGN_OR_RETURN(p.n_kv, c.read<uint64_t>("metadata key count"));
  TANDEM_TRY(check_count(c, p.n_kv, kMinKvBytes, "metadata key count", 16));
  TANDEM_TRY(check_count(c, p.n_tensors, kMinTensorInfoBytes, "tensor count", 8));
  return p;
}

Result<ValueType> read_value_type(Cursor& c, std::string_view what) {
  const uint64_t at = c.pos();
  TANDEM_ASSIGN_OR_RETURN(const uint32_t id, c.read<uint32_t>(what));
  if (!is_known_value_type(id))
    return Error(Code::kBadGguf) << "unknown " << what << " " << id << " at offset " << at;
  return static_cast<ValueType>(id);
}

// Fewest bytes one value of type `t` takes in a file.
uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: return 8;
    case ValueType::kString: return 8;
    case ValueType::kArray: return 4 + 8;
  }
  return 1;
}

// Reads metadata values (arrays recursively), counting array items against one budget.
class ValueReader {
 public:
  explicit ValueReader(Cursor& c) : c_(c) {}

  // A value of `type`; `depth` is the number of arrays around it.
  Result<Value> read(ValueType type, int depth) {
    switch (type) {
      case ValueType::kU8: return scalar<uint8_t>(Value::u8, "u8 value");
      case ValueType::kI8: return scalar<int8_t>(Value::i8, "i8 value");
      case ValueType::kU16: return scalar<uint16_t>(Value::u16, "u16 value");
      case ValueType::kI16: return scalar<int16_t>(Value::i16, "i16 value");
      case ValueType::kU32: return scalar<uint32_t>(Value::u32, "u32 value");
      case ValueType::kI32: return scalar<int32_t>(Value::i32, "i32 value");
      case ValueType::kU64: return scalar<uint64_t>(Value::u64, "u64 value");
      case ValueType::kI64: return scalar<int64_t>(Value::i64, "i64 value");
      case ValueType::kF32: return scalar<float>(Value::f32, "f32 value");
      case ValueType::kF64: return scalar<double>(Value::f64, "f64 value");
      case ValueType::kBool: return read_bool();
      case ValueType::kString: {
        TANDEM_ASSIGN_OR_RETURN(std::string s, c_.read_string("string value"));
        return Value::str(std::move(s));
      }
      case ValueType::kArray: return read_array(depth + 1);
    }
    return Error(Code::kInternal) << "unhandled value type";
  }

 private:
  template <typename T, typename Make>
  Result<Value> scalar(Make make, std::string_view what) {
    TANDEM_ASSIGN_OR_RETURN(const T v, c_.read<T>(what));
    return make(v);
  }

  Result<Value> read_bool() {
    const uint64_t at = c_.pos();
    TANDEM_ASSIGN_OR_RETURN(const uint8_t b, c_.read<uint8_t>("bool value"));
    if (b > 1)
      return Error(Code::kBadGguf) << "bool value " << int{b} << " at offset " << at
                                   << " (must be 0 or 1)";
    return Value::boolean(b == 1);
  }

  // An array at nesting level `level` (1 for a key's own array).
  Result<Value> read_array(int level) {
    const uint64_t at = c_.pos();
    if (level > kMaxArrayDepth)
      return Error(Code::kBadGguf) << "array at offset " << at << " is nested deeper than "
                                   << kMaxArrayDepth << " levels";
    TANDEM_ASSIGN_OR_RETURN(const ValueType elem, read_value_type(c_, "array element type"));
    TANDEM_ASSIGN_OR_RETURN(const uint64_t n, c_.read<uint64_t>("array length"));
    TANDEM_TRY(check_count(c_, n, min_value_bytes(elem), "array length", at + 4));
    if (n > budget_)
      return Error(Code::kBadGguf) << "array of " << n << " items at offset " << at
                                   << " takes the file past " << kMaxMetadataValues
                                   << " metadata values";
    budget_ -= n;
    std::vector<Value> items;
    items.reserve(n);
    for (uint64_t k = 0; k < n; ++k) {
      Result<Value> item = read(elem, level);
      if (!item) return with_context(item.error(), "item " + std::to_string(k));
      items.push_back(std::move(item).value());
    }
    return Value::array(elem, std::move(items));
  }

  Cursor& c_;
  uint64_t budget_ = kMaxMetadataValues;
};

Result<KeyValue> read_key_value(Cursor& c, ValueReader& values, uint64_t index) {
  const uint64_t at = c.pos();
  Result<std::string> key = c.read_string("key");
  if (!key)
    return with_context(key.error(),
                        "metadata entry #" + std::to_string(index) + " at offset " +
                            std::to_string(at));
  const std::string context = "metadata key " + quoted(*key) + " at offset " + std::to_string(at);
  Result<ValueType> type = read_value_type(c, "value type");
  if (!type) return with_context(type.error(), context);
  Result<Value> value = values.read(*type, 0);
  if (!value) return with_context(value.error(), context);
  return KeyValue{std::move(key).value(), std::move(value).value()};
}

Status read_metadata(Cursor& c, uint64_t n_kv, std::vector<KeyValue>& out) {
  std::unordered_map<std::string, uint64_t> first_at;  // key -> offset of its entry
  ValueReader values(c);
  out.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    const uint64_t at = c.pos();
    TANDEM_ASSIGN_OR_RETURN(KeyValue kv, read_key_value(c, values, k));
    const auto [it, inserted] = first_at.emplace(kv.key, at);
    if (!inserted)
      return Error(Code::kBadGguf) << "metadata key " << quoted(kv.key) << " at offset " << at
                                   << " is a duplicate (first at offset " << it->second << ")";
    out.push_back(std::move(kv));
  }
  return Status::ok();
}

Result<uint64_t> alignment_of(const std::vector<KeyValue>& kv) {
  for (const KeyValue& e : kv) {
    if (e.key != kAlignmentKey) continue;
    const std::optional<uint64_t> a = detail::to_uint(e.value);
    if (!a || !detail::is_power_of_two(*a))
      return Error(Code::kBadGguf) << "metadata key " << quoted(e.key) << " = "
                                   << e.value.to_string() << " ("
                                   << value_type_name(e.value.type)
                                   << ") is not a nonzero power of two";
    return *a;
  }
  return kDefaultAlignment;
}

// The fields after the name of a tensor info; errors carry detail only.
Status read_tensor_fields(Cursor& c, uint64_t alignment, TensorInfo& t) {
  const uint64_t dims_at = c.pos();
  TANDEM_ASSIGN_OR_RETURN(const uint32_t n_dims, c.read<uint32_t>("n_dims"));
  if (n_dims == 0 || n_dims > kMaxDims)
    return Error(Code::kBadGguf) << "n_dims " << n_dims << " at offset " << dims_at
                                 << " (allowed: 1 to " << kMaxDims << ")";
  t.dims.resize(n_dims);
  for (uint64_t& d : t.dims) {
    TANDEM_ASSIGN_OR_RETURN(d, c.read<uint64_t>("dim"));
  }
  const uint64_t type_at = c.pos();
  TANDEM_ASSIGN_OR_RETURN(const uint32_t type_id, c.read<uint32_t>("type"));
  if (!dtype_traits(type_id))
    return Error(Code::kBadGguf) << "unknown tensor type id " << type_id << " at offset "
                                 << type_at;
  t.type = static_cast<DType>(type_id);
  const uint64_t offset_at = c.pos();
  TANDEM_ASSIGN_OR_RETURN(t.offset, c.read<uint64_t>("data offset"));
  TANDEM_ASSIGN_OR_RETURN(const detail::TensorSize size, detail::tensor_size(t.dims, t.type));
  t.n_elements = size.n_elements;
  t.nbytes = size.nbytes;
  if (t.offset % alignment != 0)
    return Error(Code::kBadGguf) << "data offset " << t.offset << " at offset " << offset_at
                                 << " is not a multiple of the alignment " << alignment;
  return Status::ok();
}

// Reads the tensor infos; `info_at` gets the header offset of each one.
Status read_tensor_infos(Cursor& c, uint64_t n, uint64_t alignment,
                         std::vector<TensorInfo>& out, std::vector<uint64_t>& info_at) {
  std::unordered_map<std::string, uint64_t> index_of;  // name -> tensor index
  out.reserve(n);
  info_at.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    const uint64_t at = c.pos();
    TensorInfo t;
    Result<std::string> name = c.read_string("name");
    if (!name)
      return with_context(name.error(), "tensor #" + std::to_string(k) + " at header offset " +
                                            std::to_string(at));
    t.name = std::move(name).value();
    const std::string context = "tensor " + quoted(t.name) + " at header offset " + std::to_string(at);
    if (Status s = read_tensor_fields(c, alignment, t); !s) return with_context(s.error(), context);
    const auto [it, inserted] = index_of.emplace(t.name, k);
    if (!inserted)
      return Error(Code::kBadGguf) << context << ": duplicate tensor name (also tensor #"
                                   << it->second << ")";
    out.push_back(std::move(t));
    info_at.push_back(at);
  }
  return Status::ok();
}

Status check_data_ranges(const std::vector<TensorInfo>& tensors,
                         const std::vector<uint64_t>& info_at, uint64_t data_offset,
                         uint64_t file_size) {
  for (size_t k = 0; k < tensors.size(); ++k) {
    const TensorInfo& t = tensors[k];
    const bool fits = data_offset <= file_size && t.offset <= file_size - data_offset &&
                      t.nbytes <= file_size - data_offset - t.offset;
    if (fits) continue;
    uint64_t start = 0;
    const bool start_ok = !__builtin_add_overflow(data_offset, t.offset, &start);
    Error e(Code::kBadGguf);
    e << "tensor " << quoted(t.name) << " at header offset " << info_at[k] << ": data ";
    if (start_ok) e << byte_range(start, t.nbytes);
    else e << "at data section " << data_offset << " + offset " << t.offset;
    return e << " extends past end of file (size " << file_size << ")";
  }
  return Status::ok();
}

Result<Parsed> parse_bytes(std::span<const std::byte> bytes) {
  Cursor c(bytes);
  TANDEM_ASSIGN_OR_RETURN(const Preamble pre, read_preamble(c));
  Parsed p;
  p.version = pre.version;
  TANDEM_TRY(read_metadata(c, pre.n_kv, p.kv));
  TANDEM_ASSIGN_OR_RETURN(p.alignment, alignment_of(p.kv));
  std::vector<uint64_t> info_at;
  TANDEM_TRY(read_tensor_infos(c, pre.n_tensors, p.alignment, p.tensors, info_at));
  if (!detail::align_up(c.pos(), p.alignment, &p.data_offset))
    return Error(Code::kBadGguf) << "header end " << c.pos() << " rounded up to the alignment "
                                 << p.alignment << " overflows";
  TANDEM_TRY(check_data_ranges(p.tensors, info_at, p.data_offset, c.size()));
  return p;
}

}  // namespace

Result<File> File::parse(std::span<const std::byte> bytes, std::string name) {
  Result<Parsed> parsed = parse_bytes(bytes);
  if (!parsed) return with_context(parsed.error(), name);
  File f;
  f.bytes_ = bytes;
  f.path_ = std::move(name);
  f.version_ = parsed->version;
  f.alignment_ = parsed->alignment;
  f.data_offset_ = parsed->data_offset;
  f.kv_ = std::move(parsed->kv);
  f.tensors_ = std::move(parsed->tensors);
  return f;
}

}  // namespace tandem::gguf
