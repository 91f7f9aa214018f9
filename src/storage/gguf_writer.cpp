// The streaming GGUF writer: the header is built in memory, tensor data goes straight
// to the file (or to a byte vector in to_bytes), each tensor padded to the alignment.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "storage/gguf.h"
#include "storage/gguf_internal.h"

namespace tandem::gguf {
namespace {

using detail::quoted;

constexpr size_t kMaxTensorName = 63;  // GGML_MAX_NAME less the terminator

// Appends little-endian fields to a byte vector.
class ByteSink {
 public:
  explicit ByteSink(std::vector<std::byte>& out) : out_(out) {}
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }

 private:
  std::vector<std::byte>& out_;
};

// The payload of `v` (without its type id); errors for arrays whose items do not match
// their element type or nest too deep.
Status encode_value(ByteSink& out, const Value& v, int depth) {
  switch (v.type) {
    case ValueType::kU8: out.put(static_cast<uint8_t>(v.u)); return Status::ok();
    case ValueType::kI8: out.put(static_cast<int8_t>(v.i)); return Status::ok();
    case ValueType::kU16: out.put(static_cast<uint16_t>(v.u)); return Status::ok();
    case ValueType::kI16: out.put(static_cast<int16_t>(v.i)); return Status::ok();
    case ValueType::kU32: out.put(static_cast<uint32_t>(v.u)); return Status::ok();
    case ValueType::kI32: out.put(static_cast<int32_t>(v.i)); return Status::ok();
    case ValueType::kU64: out.put(v.u); return Status::ok();
    case ValueType::kI64: out.put(v.i); return Status::ok();
    case ValueType::kF32: out.put(static_cast<float>(v.f)); return Status::ok();
    case ValueType::kF64: out.put(v.f); return Status::ok();
    case ValueType::kBool: out.put(static_cast<uint8_t>(v.u != 0 ? 1 : 0)); return Status::ok();
    case ValueType::kString: out.put_string(v.s); return Status::ok();
    case ValueType::kArray: break;
  }
  if (v.type != ValueType::kArray)
    return Error(Code::kInvalidArgument) << "unknown value type " << static_cast<uint32_t>(v.type);
  // An array (nested or not) is its element type, its length and its items.
  if (depth >= kMaxArrayDepth)
    return Error(Code::kInvalidArgument) << "arrays nested deeper than " << kMaxArrayDepth;
  out.put(static_cast<uint32_t>(v.elem));
  out.put<uint64_t>(v.items.size());
  for (size_t k = 0; k < v.items.size(); ++k) {
    const Value& item = v.items[k];
    if (item.type != v.elem)
      return Error(Code::kInvalidArgument) << "array of " << value_type_name(v.elem)
                                           << " has item " << k << " of type "
                                           << value_type_name(item.type);
    TANDEM_TRY(encode_value(out, item, depth + 1));
  }
  return Status::ok();
}

// Errors (detail only) for a version or alignment the writer cannot write, or a
// general.alignment key that disagrees with the alignment.
Status check_settings(uint32_t version, uint64_t alignment, const std::vector<KeyValue>& kv) {
  if (version < kMinVersion || version > kMaxVersion)
    return Error(Code::kInvalidArgument) << "cannot write GGUF version " << version;
  if (!detail::is_power_of_two(alignment) || alignment > UINT32_MAX)
    return Error(Code::kInvalidArgument)
           << "alignment " << alignment << " is not a power of two that fits in u32";
  for (const KeyValue& e : kv) {
    if (e.key == kAlignmentKey && (e.value.type != ValueType::kU32 || e.value.u != alignment))
      return Error(Code::kInvalidArgument)
             << "metadata key " << quoted(e.key) << " = " << e.value.to_string() << " ("
             << value_type_name(e.value.type) << ") differs from the writer's alignment "
             << alignment << " (u32)";
  }
  return Status::ok();
}

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string s = "{";
  for (size_t d = 0; d < dims.size(); ++d) s += (d ? ", " : "") + std::to_string(dims[d]);
  return s + "}";
}

}  // namespace

Writer::Writer(uint32_t version, uint64_t alignment) : version_(version), alignment_(alignment) {}

std::string Writer::out_name() const {
  return out_path_.empty() ? std::string("GGUF writer") : out_path_;
}

void Writer::add(std::string key, Value v) {
  for (KeyValue& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  }
  kv_.push_back({std::move(key), std::move(v)});
}

Status Writer::add_tensor(std::string name, std::vector<uint64_t> dims, DType type) {
  const auto fail = [&]() {
    return Error(Code::kInvalidArgument) << out_name() << ": tensor " << quoted(name) << " ";
  };
  if (header_written_) return fail() << "added after the header was written";
  if (!detail::is_power_of_two(alignment_))
    return fail() << "cannot be placed: alignment " << alignment_ << " is not a power of two";
  if (name.size() > kMaxTensorName)
    return fail() << "has a name longer than " << kMaxTensorName << " bytes";
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return fail() << "is a duplicate";
  if (!dtype_traits(static_cast<uint32_t>(type)))
    return fail() << "has unknown type id " << static_cast<uint32_t>(type);
  Result<detail::TensorSize> size = detail::tensor_size(dims, type);
  if (!size) return fail() << "of type " << dtype_name(type) << " " << size.error().message();
  uint64_t end = 0, padded_end = 0;
  if (__builtin_add_overflow(data_bytes_, size->nbytes, &end) ||
      !detail::align_up(end, alignment_, &padded_end))
    return fail() << "takes the data section past 2^64 bytes";
  tensors_.push_back(
      {std::move(name), std::move(dims), type, data_bytes_, size->n_elements, size->nbytes});
  data_bytes_ = padded_end;
  return Status::ok();
}

Result<std::vector<std::byte>> Writer::header_bytes() const {
  const auto fail = [&]() { return Error(Code::kInvalidArgument) << out_name() << ": "; };
  if (Status s = check_settings(version_, alignment_, kv_); !s) return fail() << s.error().message();
  const bool has_alignment_key = std::any_of(
      kv_.begin(), kv_.end(), [](const KeyValue& e) { return e.key == kAlignmentKey; });
  const bool add_alignment_key = !has_alignment_key && alignment_ != kDefaultAlignment;

  std::vector<std::byte> bytes;
  ByteSink out(bytes);
  out.put<uint32_t>(0x46554747);  // "GGUF"
  out.put<uint32_t>(version_);
  out.put<uint64_t>(tensors_.size());
  out.put<uint64_t>(kv_.size() + (add_alignment_key ? 1 : 0));
  if (add_alignment_key) {
    out.put_string(kAlignmentKey);
    out.put(static_cast<uint32_t>(ValueType::kU32));
    out.put(static_cast<uint32_t>(alignment_));
  }
  for (const KeyValue& kv : kv_) {
    out.put_string(kv.key);
    out.put(static_cast<uint32_t>(kv.value.type));
    if (Status s = encode_value(out, kv.value, 0); !s)
      return fail() << "metadata key " << quoted(kv.key) << ": " << s.error().message();
  }
  for (const TensorInfo& t : tensors_) {
    out.put_string(t.name);
    out.put<uint32_t>(t.dims.size());
    for (uint64_t d : t.dims) out.put(d);
    out.put(static_cast<uint32_t>(t.type));
    out.put(t.offset);
  }
  return bytes;
}

Status Writer::emit(const void* p, size_t n) {
  if (mem_ != nullptr) {
    const auto* b = static_cast<const std::byte*>(p);
    mem_->insert(mem_->end(), b, b + n);
    return Status::ok();
  }
  if (out_ == nullptr) return Error(Code::kInvalidArgument) << out_name() << ": no file is open";
  if (n > 0 && std::fwrite(p, 1, n, out_.get()) != n) {
    const int err = errno;
    return Error(Code::kIo) << out_name() << ": write failed: " << std::strerror(err);
  }
  return Status::ok();
}

Status Writer::emit_padding(uint64_t written) {
  static constexpr std::byte kZeros[256] = {};
  uint64_t padded = 0;
  if (!detail::align_up(written, alignment_, &padded))
    return Error(Code::kInvalidArgument) << out_name() << ": padding overflows";
  for (uint64_t left = padded - written; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, sizeof(kZeros)));
    TANDEM_TRY(emit(kZeros, n));
    left -= n;
  }
  return Status::ok();
}

Status Writer::open(const std::string& path) {
  if (out_ != nullptr)
    return Error(Code::kInvalidArgument) << path << ": writer already has " << out_path_ << " open";
  out_.reset(std::fopen(path.c_str(), "wb"));
  if (out_ == nullptr) {
    const int err = errno;
    return Error(err == ENOENT ? Code::kNotFound : Code::kIo)
           << path << ": cannot open for writing: " << std::strerror(err);
  }
  out_path_ = path;
  header_written_ = false;
  next_tensor_ = 0;
  part_written_ = 0;
  return Status::ok();
}

Status Writer::write_header() {
  if (header_written_)
    return Error(Code::kInvalidArgument) << out_name() << ": header already written";
  TANDEM_ASSIGN_OR_RETURN(const std::vector<std::byte> header, header_bytes());
  TANDEM_TRY(emit(header.data(), header.size()));
  TANDEM_TRY(emit_padding(header.size()));
  header_written_ = true;
  next_tensor_ = 0;
  part_written_ = 0;
  return Status::ok();
}

Status Writer::write_tensor_data(std::string_view name, std::span<const std::byte> data) {
  const auto fail = [&]() { return Error(Code::kInvalidArgument) << out_name() << ": "; };
  if (!header_written_) return fail() << "tensor data for " << quoted(name) << " before the header";
  if (next_tensor_ >= tensors_.size())
    return fail() << "tensor data for " << quoted(name) << " after all " << tensors_.size()
                  << " tensors were written";
  const TensorInfo& t = tensors_[next_tensor_];
  if (name != t.name)
    return fail() << "tensor data for " << quoted(name) << " where tensor #" << next_tensor_
                  << " " << quoted(t.name) << " comes next";
  if (part_written_ != 0)
    return fail() << "tensor " << quoted(t.name) << " was begun with write_tensor_part";
  if (data.size() != t.nbytes)
    return fail() << "tensor " << quoted(t.name) << " (" << dtype_name(t.type) << ", dims "
                  << dims_text(t.dims) << ") needs " << t.nbytes << " bytes, got " << data.size();
  TANDEM_TRY(emit(data.data(), data.size()));
  TANDEM_TRY(emit_padding(t.nbytes));
  ++next_tensor_;
  return Status::ok();
}

Status Writer::write_tensor_part(std::string_view name, std::span<const std::byte> part) {
  const auto fail = [&]() { return Error(Code::kInvalidArgument) << out_name() << ": "; };
  if (!header_written_) return fail() << "tensor data for " << quoted(name) << " before the header";
  if (next_tensor_ >= tensors_.size())
    return fail() << "tensor data for " << quoted(name) << " after all " << tensors_.size()
                  << " tensors were written";
  const TensorInfo& t = tensors_[next_tensor_];
  if (name != t.name)
    return fail() << "tensor data for " << quoted(name) << " where tensor #" << next_tensor_
                  << " " << quoted(t.name) << " comes next";
  if (part.size() > t.nbytes - part_written_)
    return fail() << "tensor " << quoted(t.name) << " (" << dtype_name(t.type) << ", dims "
                  << dims_text(t.dims) << ") needs " << t.nbytes << " bytes, got "
                  << part_written_ + part.size() << " so far";
  TANDEM_TRY(emit(part.data(), part.size()));
  part_written_ += part.size();
  if (part_written_ == t.nbytes) {
    TANDEM_TRY(emit_padding(t.nbytes));
    part_written_ = 0;
    ++next_tensor_;
  }
  return Status::ok();
}

Status Writer::close() {
  if (out_ == nullptr) return Error(Code::kInvalidArgument) << out_name() << ": no file is open";
  std::FILE* f = out_.release();
  const bool complete = header_written_ && next_tensor_ == tensors_.size();
  const bool closed = std::fclose(f) == 0;
  const int err = errno;
  if (!complete)
    return Error(Code::kInvalidArgument) << out_path_ << ": closed after " << next_tensor_ << " of "
                                         << tensors_.size() << " tensors"
                                         << (header_written_ ? "" : " and before the header");
  if (!closed) return Error(Code::kIo) << out_path_ << ": close failed: " << std::strerror(err);
  return Status::ok();
}

Result<std::vector<std::byte>> Writer::to_bytes(std::span<const std::span<const std::byte>> datas) {
  if (out_ != nullptr)
    return Error(Code::kInvalidArgument) << out_name() << ": to_bytes while a file is open";
  if (datas.size() != tensors_.size())
    return Error(Code::kInvalidArgument) << out_name() << ": to_bytes got data for "
                                         << datas.size() << " tensors, expected " << tensors_.size();
  std::vector<std::byte> bytes;
  mem_ = &bytes;
  header_written_ = false;
  Status s = write_header();
  for (size_t k = 0; s.is_ok() && k < datas.size(); ++k)
    s = write_tensor_data(tensors_[k].name, datas[k]);
  mem_ = nullptr;
  header_written_ = false;
  next_tensor_ = 0;
  if (!s) return s.error();
  return bytes;
}

}  // namespace tandem::gguf
