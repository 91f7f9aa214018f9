#include "engine/model_writer.h"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <future>
#include <span>
#include <system_error>
#include <vector>

#include "core/check.h"
#include "cpu/quant_ref.h"
#include "engine/random_weights.h"
#include "storage/gguf.h"

namespace tandem {
namespace {

constexpr int64_t kChunkFloats = int64_t{1} << 20;  // 4 MiB of f32 per chunk

// Generates and quantizes chunks of rows on the arena while a second thread writes the
// previous chunk, so the disk and the cores work at the same time. Two byte buffers
// alternate: the one being filled is never the one being written.
class ChunkPipeline {
 public:
  ChunkPipeline(gguf::Writer& w, uint64_t seed, const cpu::ThreadArena& arena,
                uint64_t total, const WriteProgressFn& progress)
      : w_(w), seed_(seed), arena_(arena), total_(total), progress_(progress) {}
  ~ChunkPipeline() {
    if (pending_.valid()) pending_.wait();  // an error path: the write must end before w_ does
  }

  Status write_tensor(const PlannedTensor& t) {
    const int64_t len = t.row_len();
    const int64_t rows = t.rows();
    const auto rb = static_cast<int64_t>(*row_bytes(t.type, static_cast<uint64_t>(len)));
    const int64_t chunk_rows = std::max<int64_t>(1, kChunkFloats / len);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - r0);
      std::vector<std::byte>& q = q_[cur_];  // free: its last write was waited for below
      f32_.resize(static_cast<size_t>(n * len));
      q.resize(static_cast<size_t>(n * rb));
      const int64_t grain = std::max<int64_t>(1, n / (4 * arena_.n_threads()));
      arena_.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          float* row = f32_.data() + r * len;  // [len]
          planned_tensor_rows(t, seed_, r0 + r, 1, row);
          cpu::quantize_row_ref(t.type, row, q.data() + r * rb, len);
        }
      });
      TANDEM_TRY(wait());
      start_write(t.name, std::span<const std::byte>(q.data(), q.size()));
      cur_ ^= 1;
    }
    return Status::ok();
  }

  // Waits for the write in flight, if any, and reports progress.
  Status wait() {
    if (!pending_.valid()) return Status::ok();
    Status s = pending_.get();
    if (s.is_ok() && progress_) progress_(done_, total_);
    return s;
  }

 private:
  void start_write(const std::string& name, std::span<const std::byte> bytes) {
    done_ += bytes.size();
    try {
      pending_ = std::async(std::launch::async,
                            [this, &name, bytes] { return w_.write_tensor_part(name, bytes); });
    } catch (const std::system_error&) {  // no thread to spare: write here instead
      std::promise<Status> p;
      p.set_value(w_.write_tensor_part(name, bytes));
      pending_ = p.get_future();
    }
  }

  gguf::Writer& w_;
  uint64_t seed_;
  const cpu::ThreadArena& arena_;
  uint64_t total_;
  const WriteProgressFn& progress_;
  std::vector<float> f32_;          // [chunk rows, row_len] values of the chunk being made
  std::vector<std::byte> q_[2];     // the chunk being made and the chunk being written
  int cur_ = 0;
  uint64_t done_ = 0;               // bytes handed to the writer
  std::future<Status> pending_;
};

Status write_all(gguf::Writer& w, const ModelPlan& plan, const std::string& path, uint64_t seed,
                 const cpu::ThreadArena& arena, const WriteProgressFn& progress, bool* opened) {
  for (const gguf::KeyValue& kv : plan.metadata) w.add(kv.key, kv.value);
  for (const PlannedTensor& t : plan.tensors) TANDEM_TRY(w.add_tensor(t.name, t.dims, t.type));
  TANDEM_TRY(w.open(path));
  *opened = true;
  TANDEM_TRY(w.write_header());
  {
    ChunkPipeline pipe(w, seed, arena, plan.data_bytes(), progress);
    for (const PlannedTensor& t : plan.tensors) TANDEM_TRY(pipe.write_tensor(t));
    TANDEM_TRY(pipe.wait());
  }
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
  // Remove a partial file, but never a device or pipe that was written to.
  std::error_code ec;
  if (!s.is_ok() && opened && std::filesystem::is_regular_file(path, ec))
    std::filesystem::remove(path, ec);
  return s;
}

}  // namespace tandem
