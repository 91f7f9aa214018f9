// Shared pieces of the CUDA executor tests: the CUDA backend loaded the way `tandem`
// loads it (gpu/loader.h, dlopen of the library this build made), a fixture that skips
// without it, and the oracle the GPU is compared with. (What these tests share with the
// emulated GPU's is in tests/engine/device_compare.h.)
//
// The oracle: a copy of the model file with every non-f32 tensor dequantized to f32
// (cpu::dequantize_row_ref, the very floats the GPU's dequantizers give: tests/gpu_host
// checks them bit for bit). On f32 weights the CPU computes with f32 activations and f32
// sums, as the GPU does, so the two differ by the order of f32 sums (and the GPU's
// expf/cosf), not by the CPU's int8 activation quantization that the quantized model's
// CPU path adds (measured with a host model of the GPU's numerics, see the tests).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "cpu/quant_ref.h"
#include "engine/model.h"
#include "gpu/executor.h"
#include "gpu/loader.h"
#include "storage/gguf.h"

namespace tandem::testing {

// The CUDA backend, or nullopt with the reason (no driver, no device, no library).
inline std::optional<gpu::LoadedBackend> load_cuda_backend(std::string* why) {
  gpu::LoaderOptions o;
  o.library_paths = {TANDEM_CUDA_LIBRARY};
  auto b = gpu::load_gpu_backend(o);
  if (!b) {
    *why = b.error().message();
    return std::nullopt;
  }
  return std::move(*b);
}

// A fixture (over ::testing::Test, or ::testing::TestWithParam<P>) whose tests skip
// where the CUDA backend cannot be loaded; backend() is that backend.
template <typename Base = ::testing::Test>
class CudaBackendTest : public Base {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = load_cuda_backend(&why);
    if (!backend_) GTEST_SKIP() << "no CUDA backend: " << why;
  }
  gpu::GpuBackend& backend() { return backend_->backend(); }

  std::optional<gpu::LoadedBackend> backend_;
};

// Writes `src` with every tensor that is not f32 dequantized to f32 into the test's
// temporary directory, under a name of this process's own (ctest runs tests in
// parallel); returns the new path ("" with a failed expectation on errors).
inline std::string write_f32_copy(const std::string& src) {
  auto f = gguf::File::open(src);
  EXPECT_TRUE(f) << src << ": " << (f ? "" : f.error().message());
  if (!f) return "";
  const std::string base = src.substr(src.find_last_of('/') + 1);
  const std::string out = ::testing::TempDir() + "/" + base + "." + std::to_string(::getpid()) + ".f32.gguf";
  gguf::Writer w(3, f->alignment());
  for (const gguf::KeyValue& kv : f->metadata())
    if (kv.key != "general.alignment") w.add(kv.key, kv.value);
  for (const gguf::TensorInfo& t : f->tensors()) {
    const Status st = w.add_tensor(t.name, t.dims, DType::kF32);
    EXPECT_TRUE(st) << t.name << ": " << st.error().message();
    if (!st) return "";
  }
  const auto check = [&](const Status& st) {
    EXPECT_TRUE(st) << out << ": " << st.error().message();
    return st.is_ok();
  };
  if (!check(w.open(out)) || !check(w.write_header())) return "";
  std::vector<float> values;
  for (const gguf::TensorInfo& t : f->tensors()) {
    values.resize(t.n_elements);
    const std::span<const std::byte> data = f->tensor_data(t);
    const uint64_t row = t.dims[0];
    const uint64_t rb = *row_bytes(t.type, row);
    for (uint64_t r = 0; r < t.rows(); ++r)
      cpu::dequantize_row_ref(t.type, data.data() + r * rb, values.data() + r * row, static_cast<int64_t>(row));
    if (!check(w.write_tensor_data(t.name, std::as_bytes(std::span<const float>(values))))) return "";
  }
  if (!check(w.close())) return "";
  return out;
}

// The f32 copy of `src`, loaded; the file is removed at once (the mapping stays valid).
inline std::unique_ptr<Model> load_f32_copy(const std::string& src) {
  const std::string path = write_f32_copy(src);
  if (path.empty()) return nullptr;
  auto m = Model::load(path);
  std::remove(path.c_str());
  EXPECT_TRUE(m) << path << ": " << (m ? "" : m.error().message());
  return m ? std::move(*m) : nullptr;
}

// Scripted executor calls (the executor and graph tests): a sequence as the engine
// keeps it, one call's inputs, and the bookkeeping every script does.
struct ExecSeq {
  std::vector<int32_t> table;  // [blocks_per_seq]
  int32_t len = 0;
};

struct ExecCall {
  std::vector<float> x;                    // [n_tokens, n_embd]
  std::vector<gpu::BatchSegment> segments;
  std::vector<int64_t> out_rows;
  int32_t first_layer = -1;                // -1: the executor's first layer
  int32_t n_layers = -1;
  bool logits = true;
};

class ExecScriptBase {
 public:
  ExecScriptBase(const gpu::ExecModel& m, uint32_t seed) : m_(m), rng_(seed) {}

  // n rows of N(0, 1) activations.
  std::vector<float> random_x(int64_t n) {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n * m_.n_embd));
    for (float& v : x) v = nd(rng_);
    return x;
  }

  // Appends `n` tokens of sequence `s` to the call (its rows follow the call's rows).
  void add(ExecCall& c, ExecSeq& s, int64_t n) {
    const int64_t first = c.segments.empty() ? 0 : c.segments.back().first + c.segments.back().n;
    c.segments.push_back(gpu::BatchSegment{first, n, s.len, s.table});
    s.len += static_cast<int32_t>(n);
  }

 protected:
  // c as a batch (first_layer -1: `executor_first`), out not set yet.
  gpu::ExecBatch batch(const ExecCall& c, int32_t executor_first) const {
    gpu::ExecBatch b;
    b.first_layer = c.first_layer < 0 ? executor_first : c.first_layer;
    b.n_layers = c.n_layers;
    b.x = c.x.data();
    b.n_tokens = static_cast<int64_t>(c.x.size()) / m_.n_embd;
    b.segments = c.segments;
    b.logits = c.logits;
    b.out_rows = c.out_rows;
    return b;
  }
  // Floats of c's output: logits of the wanted rows, or the hidden state.
  size_t out_size(const ExecCall& c) const {
    return c.logits ? c.out_rows.size() * static_cast<size_t>(m_.n_vocab) : c.x.size();
  }

  gpu::ExecModel m_;
  std::mt19937 rng_;
};

}  // namespace tandem::testing
