// GGUF v2/v3 files: a reader over mmap (every size and offset checked) and a streaming
// writer. Layout facts: magic "GGUF", u32 version, u64 tensor count, u64 KV count,
// KV pairs, tensor infos, padding to general.alignment, tensor data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace tandem::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata value. Scalars live in the field of their family; arrays hold their
// element type and items (arrays may nest).
struct Value {
  ValueType type = ValueType::kU32;
  uint64_t u = 0;     // kU8 kU16 kU32 kU64 kBool
  int64_t i = 0;      // kI8 kI16 kI32 kI64
  double f = 0;       // kF32 kF64
  std::string s;      // kString
  ValueType elem = ValueType::kU32;  // kArray: element type
  std::vector<Value> items;          // kArray

  static Value u32(uint32_t v);
  static Value u64(uint64_t v);
  static Value i32(int32_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value str_array(std::vector<std::string> v);
  static Value f32_array(std::span<const float> v);
  static Value i32_array(std::span<const int32_t> v);
  static Value array(ValueType elem, std::vector<Value> items);

  bool is_integer() const;  // any signed/unsigned integer type
  bool is_float() const;
  // Human-readable rendering (arrays abbreviated after `max_items`).
  std::string to_string(size_t max_items = 8) const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first: dims[0] is the row length (contiguous)
  DType type = DType::kF32;
  uint64_t offset = 0;         // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t nbytes = 0;
  uint64_t rows() const { return dims.empty() ? 0 : n_elements / dims[0]; }
};

class File {
 public:
  // Maps and parses `path`. Errors name the file, the field or tensor and the byte offset.
  static Result<File> open(const std::string& path);
  // Parses bytes the caller keeps alive (tests, fuzzing). `name` stands for the path in errors.
  static Result<File> parse(std::span<const std::byte> bytes, std::string name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute file offset of the data section
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<KeyValue>& metadata() const { return kv_; }  // file order
  const Value* find(std::string_view key) const;

  // Typed getters: kNotFound when absent, kBadGguf (naming the key and the types) when
  // the stored type does not convert. Integers convert between widths when the value fits.
  Result<std::string> get_string(std::string_view key) const;
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this File lives).
  std::span<const std::byte> tensor_data(const TensorInfo& t) const;

 private:
  File() = default;
  struct Mapping;
  std::unique_ptr<Mapping> map_;  // null when parsing caller-owned bytes
  std::span<const std::byte> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
};

// Streaming writer: add metadata and tensor infos, write the header, then each
// tensor's bytes in the order added. An 8B model is written with little memory.
class Writer {
 public:
  explicit Writer(uint32_t version = 3, uint64_t alignment = 32);

  void add(std::string key, Value v);
  // Shape with ne[0] first. Errors on a bad row length for the type or a duplicate name.
  Status add_tensor(std::string name, std::vector<uint64_t> dims, DType type);

  // File output.
  Status open(const std::string& path);
  Status write_header();
  Status write_tensor_data(std::string_view name, std::span<const std::byte> data);  // in order
  Status close();  // checks every tensor was written

  // Whole file in memory (tests): header + data given per tensor in order.
  Result<std::vector<std::byte>> to_bytes(std::span<const std::span<const std::byte>> datas);

 private:
  Status emit(const void* p, size_t n);
  std::vector<std::byte> header_bytes() const;
  uint32_t version_;
  uint64_t alignment_;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  size_t next_tensor_ = 0;
  uint64_t written_data_ = 0;
  std::FILE* out_ = nullptr;
  std::string out_path_;
  std::vector<std::byte>* mem_ = nullptr;
};

}  // namespace tandem::gguf
