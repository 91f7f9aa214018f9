// GGUF v2/v3 files: a reader over mmap (every size and offset checked) and a streaming
// writer. Layout facts (little-endian): magic "GGUF", u32 version, u64 tensor count,
// u64 KV count, KV pairs, tensor infos, padding to general.alignment, tensor data.
// A string is a u64 byte length and the bytes (no terminator). A KV pair is a string
// key, a u32 value type and the value; an array value is a u32 element type, a u64
// count and the elements (an element that is itself an array carries its own type and
// count). A tensor info is a string name, u32 n_dims, u64 dims[n_dims] (ne[0] first),
// u32 GGML type id and a u64 offset from the start of the data section.
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

constexpr uint32_t kMinVersion = 2;       // v1 (32-bit counts) is rejected
constexpr uint32_t kMaxVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 64;        // arrays nested deeper are rejected
// Most values over all metadata arrays of a file. Real files hold under 2M (a 256k
// vocab's tokens, scores and types plus merges); this bounds the memory a hostile file
// can make the reader allocate (about 100 bytes per Value).
constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 23;
constexpr std::string_view kAlignmentKey = "general.alignment";

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* value_type_name(ValueType t);  // "u8" ... "f64"; "?" for an unknown id
bool is_known_value_type(uint32_t id);

// One metadata value. Scalars live in the field of their family; arrays hold their
// element type and items (arrays may nest). Fields of other families stay zero/empty,
// so two equal values compare equal with ==.
struct Value {
  ValueType type = ValueType::kU32;
  uint64_t u = 0;     // kU8 kU16 kU32 kU64 kBool
  int64_t i = 0;      // kI8 kI16 kI32 kI64
  double f = 0;       // kF32 kF64 (a kF32 holds a float's exact value)
  std::string s;      // kString
  ValueType elem = ValueType::kU32;  // kArray: element type
  std::vector<Value> items;          // kArray: every item has type == elem

  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f32(float v);
  static Value f64(double v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value str_array(std::vector<std::string> v);
  static Value f32_array(std::span<const float> v);
  static Value i32_array(std::span<const int32_t> v);
  static Value array(ValueType elem, std::vector<Value> items);

  bool is_integer() const;  // any signed/unsigned integer type (not bool)
  bool is_float() const;
  // Human-readable rendering: strings quoted and escaped, arrays abbreviated after
  // `max_items` items ("[1, 2, ... (510 more)]").
  std::string to_string(size_t max_items = 8) const;

  friend bool operator==(const Value&, const Value&) = default;
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
  // Maps and parses `path`. Errors name the file, the field or tensor and the byte offset:
  // kBadGguf for a malformed file, kNotFound / kIo when the OS cannot open or map it.
  static Result<File> open(const std::string& path);
  // Parses bytes the caller keeps alive (tests, fuzzing). `name` stands for the path in errors.
  static Result<File> parse(std::span<const std::byte> bytes, std::string name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Absolute file offset of the data section (the header end rounded up to the
  // alignment). With no tensors it may lie past the end of the file.
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<KeyValue>& metadata() const { return kv_; }  // file order
  const Value* find(std::string_view key) const;

  // Typed getters: kNotFound when absent, kBadGguf (naming the key and the types) when
  // the stored type does not convert. Integers convert between widths and signedness
  // when the value fits; get_float also takes integers; get_i32_array takes any integer
  // elements that fit in i32, get_f32_array f32 or f64 elements.
  Result<std::string> get_string(std::string_view key) const;
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_f32_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // file order
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this File lives). `t` must be
  // one of tensors() or a copy of one (its range is checked: a foreign one aborts).
  std::span<const std::byte> tensor_data(const TensorInfo& t) const;
  // Tells the OS the whole pages inside `bytes` (a range of this file's mapping) are not
  // needed now: a file-backed mapping drops them and reads them again from the file if
  // touched later, so the data stays valid. For weights copied elsewhere at load. No-op
  // for parsed (unmapped) bytes.
  void release_pages(std::span<const std::byte> bytes) const;

 private:
  File();  // out of line: Mapping is complete only in gguf_file.cpp
  Result<const Value*> lookup(std::string_view key) const;
  struct Mapping;
  std::unique_ptr<Mapping> map_;  // null when parsing caller-owned bytes
  std::span<const std::byte> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
};

// Streaming writer: add metadata and tensor infos, write the header, then each
// tensor's bytes in the order added (each padded to the alignment). Only the header is
// held in memory, so an 8B model is written with little memory.
class Writer {
 public:
  // An alignment other than 32 is recorded as a u32 general.alignment key. A bad
  // version (not 2 or 3) or alignment (not a power of two) fails write_header/to_bytes.
  explicit Writer(uint32_t version = 3, uint64_t alignment = kDefaultAlignment);
  // Destruction closes an open file without checking it (call close() to check).

  // Adds a key, or replaces the value of a key already added (keys stay unique).
  void add(std::string key, Value v);
  // Shape with ne[0] first. Errors on bad dims, a bad row length for the type or a
  // duplicate name.
  Status add_tensor(std::string name, std::vector<uint64_t> dims, DType type);
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // File output.
  Status open(const std::string& path);
  Status write_header();
  Status write_tensor_data(std::string_view name, std::span<const std::byte> data);  // in order
  // The next tensor's data in consecutive parts, for tensors too large to hold in memory
  // (make-model): the tensor is complete, and padded, once its parts add up to its
  // size. Do not mix with write_tensor_data for the same tensor.
  Status write_tensor_part(std::string_view name, std::span<const std::byte> part);
  Status close();  // checks every tensor was written

  // Whole file in memory (tests): header + data given per tensor in order.
  Result<std::vector<std::byte>> to_bytes(std::span<const std::span<const std::byte>> datas);

 private:
  Status emit(const void* p, size_t n);
  Status emit_padding(uint64_t written);
  Result<std::vector<std::byte>> header_bytes() const;
  std::string out_name() const;
  uint32_t version_;
  uint64_t alignment_;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  uint64_t data_bytes_ = 0;       // size of the data section, padding included
  bool header_written_ = false;
  size_t next_tensor_ = 0;
  uint64_t part_written_ = 0;     // bytes of tensors_[next_tensor_] given by write_tensor_part
  struct CloseFile {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, CloseFile> out_;
  std::string out_path_;
  std::vector<std::byte>* mem_ = nullptr;  // set only inside to_bytes
};

}  // namespace tandem::gguf
