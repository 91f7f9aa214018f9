// libFuzzer target for the GGUF reader: any input either parses or gives a kBadGguf
// error naming the file; a parsed file's getters and tensor spans stay inside the
// input, and writing it back with gguf::Writer and parsing that again is stable.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "storage/gguf.h"

namespace {

using namespace tandem;
using namespace tandem::gguf;

constexpr const char* kName = "fuzz.gguf";

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "gguf_fuzz: invariant broken: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

void touch_metadata(const File& f) {
  for (const KeyValue& kv : f.metadata()) {
    const Value* found = f.find(kv.key);
    require(found != nullptr, "find() misses a key of metadata()");
    require(found == &kv.value, "find() returns another entry: keys are not unique");
    require(!kv.value.to_string().empty(), "empty rendering");
    // Every getter on every key: a value or an error, never a crash.
    (void)f.get_string(kv.key);
    (void)f.get_uint(kv.key);
    (void)f.get_int(kv.key);
    (void)f.get_float(kv.key);
    (void)f.get_bool(kv.key);
    (void)f.get_string_array(kv.key);
    (void)f.get_f32_array(kv.key);
    (void)f.get_i32_array(kv.key);
  }
  if (f.find("fuzz.no.such.key") == nullptr)
    require(f.get_uint("fuzz.no.such.key").error().code() == Code::kNotFound, "missing key found");
}

void touch_tensors(const File& f, std::span<const std::byte> input) {
  require(f.alignment() != 0 && (f.alignment() & (f.alignment() - 1)) == 0, "alignment");
  require(f.data_offset() % f.alignment() == 0, "data offset not aligned");
  for (const TensorInfo& t : f.tensors()) {
    require(f.find_tensor(t.name) == &t, "find_tensor() returns another tensor");
    require(!t.dims.empty() && t.dims.size() <= kMaxDims, "dims count");
    require(t.offset % f.alignment() == 0, "tensor offset not aligned");
    require(t.rows() * t.dims[0] == t.n_elements, "rows * row length != elements");
    const std::span<const std::byte> data = f.tensor_data(t);
    require(data.size() == t.nbytes, "span size != nbytes");
    require(data.data() >= input.data() && data.data() + data.size() <= input.data() + input.size(),
            "tensor span outside the input");
    if (!data.empty()) {  // touch both ends: ASan reports a span past the input
      volatile std::byte first = data.front(), last = data.back();
      (void)first;
      (void)last;
    }
  }
}

// The file as Writer writes it, or nothing when the writer refuses (names over 63
// bytes, a general.alignment that is not u32).
std::vector<std::byte> rewrite(const File& f) {
  Writer w(f.version(), f.alignment());
  for (const KeyValue& kv : f.metadata()) w.add(kv.key, kv.value);
  std::vector<std::span<const std::byte>> datas;
  for (const TensorInfo& t : f.tensors()) {
    if (!w.add_tensor(t.name, t.dims, t.type).is_ok()) return {};
    datas.push_back(f.tensor_data(t));
  }
  Result<std::vector<std::byte>> bytes = w.to_bytes(datas);
  if (!bytes.is_ok()) return {};
  return std::move(bytes).value();
}

void check_round_trip(const File& f) {
  const std::vector<std::byte> once = rewrite(f);
  if (once.empty()) return;
  Result<File> again = File::parse(once, kName);
  if (!again.is_ok()) {
    std::fprintf(stderr, "%s\n", again.error().message().c_str());
    fail("a file the writer wrote does not parse");
  }
  require(again->metadata().size() == f.metadata().size(), "round trip changed the key count");
  require(again->tensors().size() == f.tensors().size(), "round trip changed the tensor count");
  require(rewrite(*again) == once, "writing a parsed file twice differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  Result<File> f = File::parse(input, kName);
  if (!f.is_ok()) {
    require(f.error().code() == Code::kBadGguf, "error code is not kBadGguf");
    require(f.error().message().rfind(std::string(kName) + ": ", 0) == 0,
            "error message does not start with the file name");
    return 0;
  }
  touch_metadata(*f);
  touch_tensors(*f, input);
  check_round_trip(*f);
  return 0;
}
