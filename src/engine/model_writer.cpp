#include "engine/model_writer.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <vector>

#include "core/check.h"
#include "cpu/quant_ref.h"
#include "engine/random_weights.h"
#include "storage/gguf.h"

namespace tandem {
namespace {

constexpr int64_t kChunkFloats = int64_t{1} << 20;  // 4 MiB of f32 per chunk

// Generates, quantizes and writes one tensor, a chunk of rows at a time.
// f32: [chunk_rows, row_len] scratch; q: the same rows in t.type.
Status write_tensor(gguf::Writer& w, const PlannedTensor& t, uint64_t seed,
                    const cpu::ThreadArena& arena, std::vector<float>& f32,
                    std::vector<std::byte>& q, uint64_t* done, uint64_t total,
                    const WriteProgressFn& progress) {
  const int64_t len = t.row_len();
  const int64_t rows = t.rows();
  const auto rb = static_cast<int64_t>(*row_bytes(t.type, static_cast<uint64_t>(len)));
  const int64_t chunk_rows = std::max<int64_t>(1, kChunkFloats / len);
  f32.resize(static_cast<size_t>(std::min(chunk_rows, rows) * len));
  q.resize(static_cast<size_t>(std::min(chunk_rows, rows) * rb));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - r0);
    const int64_t grain = std::max<int64_t>(1, n / (4 * arena.n_threads()));
    arena.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        float* row = f32.data() + r * len;
        planned_tensor_rows(t, seed, r0 + r, 1, row);
        cpu::quantize_row_ref(t.type, row, q.data() + r * rb, len);
      }
    });
    TANDEM_TRY(w.write_tensor_part(t.name, std::span<const std::byte>(q.data(), static_cast<size_t>(n * rb))));
    *done += static_cast<uint64_t>(n * rb);
    if (progress) progress(*done, total);
  }
  return Status::ok();
}

Status write_all(gguf::Writer& w, const ModelPlan& plan, const std::string& path, uint64_t seed,
                 const cpu::ThreadArena& arena, const WriteProgressFn& progress, bool* opened) {
  for (const gguf::KeyValue& kv : plan.metadata) w.add(kv.key, kv.value);
  for (const PlannedTensor& t : plan.tensors) TANDEM_TRY(w.add_tensor(t.name, t.dims, t.type));
  TANDEM_TRY(w.open(path));
  *opened = true;
  TANDEM_TRY(w.write_header());
  std::vector<float> f32;
  std::vector<std::byte> q;
  uint64_t done = 0;
  const uint64_t total = plan.data_bytes();
  for (const PlannedTensor& t : plan.tensors)
    TANDEM_TRY(write_tensor(w, t, seed, arena, f32, q, &done, total, progress));
  return w.close();
}

}  // namespace

void planned_tensor_rows(const PlannedTensor& t, uint64_t seed, int64_t row0, int64_t n_rows,
                         float* out) {
  const int64_t len = t.row_len();
  const auto first = static_cast<uint64_t>(row0 * len);
  const int64_t n = n_rows * len;
  switch (t.init) {
    case WeightInit::kFixed:
      TANDEM_CHECK(first + static_cast<uint64_t>(n) <= t.values.size()) << t.name << ": rows out of range";
      std::copy_n(t.values.begin() + static_cast<std::ptrdiff_t>(first), n, out);
      return;
    case WeightInit::kNormal:
      normal_values(weight_stream_key(seed, t.name), first, out, n);
      for (int64_t i = 0; i < n; ++i) out[i] *= t.std;
      return;
    case WeightInit::kNormWeight:
      normal_values(weight_stream_key(seed, t.name), first, out, n);
      for (int64_t i = 0; i < n; ++i) out[i] = std::clamp(1.0f + t.std * out[i], 0.5f, 1.5f);
      return;
  }
}

Status write_model_file(const ModelPlan& plan, const std::string& path, uint64_t seed,
                        const cpu::ThreadArena& arena, const WriteProgressFn& progress) {
  bool opened = false;
  Status s;
  {
    gguf::Writer w;
    s = write_all(w, plan, path, seed, arena, progress, &opened);
  }  // the writer's file is closed here, also on errors
  if (!s.is_ok() && opened) std::remove(path.c_str());
  return s;
}

}  // namespace tandem
