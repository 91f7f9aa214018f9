// Makes small valid GGUF files from big ones, for the fuzz seed corpus: every key
// (arrays cut to their first 8 items) and every tensor cut to its first row, so the
// fuzzer starts from files that parse all the way through.
// Usage: gguf_seed IN.gguf OUT.gguf
#include <cstdio>

#include "storage/gguf.h"

namespace {

using namespace tandem;
using namespace tandem::gguf;

constexpr size_t kMaxItems = 8;

Value shortened(const Value& v) {
  if (v.type != ValueType::kArray) return v;
  std::vector<Value> items;
  for (size_t k = 0; k < v.items.size() && k < kMaxItems; ++k) items.push_back(shortened(v.items[k]));
  return Value::array(v.elem, std::move(items));
}

Status make_seed(const std::string& in, const std::string& out) {
  TANDEM_ASSIGN_OR_RETURN(const File f, File::open(in));
  Writer w(f.version(), f.alignment());
  for (const KeyValue& kv : f.metadata()) w.add(kv.key, shortened(kv.value));
  std::vector<std::span<const std::byte>> rows;
  for (const TensorInfo& t : f.tensors()) {
    TANDEM_TRY(w.add_tensor(t.name, {t.dims[0]}, t.type));
    rows.push_back(f.tensor_data(t).first(w.tensors().back().nbytes));
  }
  TANDEM_TRY(w.open(out));
  TANDEM_TRY(w.write_header());
  for (size_t k = 0; k < rows.size(); ++k) TANDEM_TRY(w.write_tensor_data(f.tensors()[k].name, rows[k]));
  return w.close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s IN.gguf OUT.gguf\n", argv[0]);
    return 2;
  }
  const Status s = make_seed(argv[1], argv[2]);
  if (!s.is_ok()) {
    std::fprintf(stderr, "gguf_seed: %s\n", s.error().message().c_str());
    return 1;
  }
  return 0;
}
