#include "engine/emulated_gpu.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/check.h"
#include "cpu/ops_ref.h"
#include "cpu/quant_ref.h"
#include "gpu/host_allocator.h"

namespace tandem {
namespace {

using gpu::DeviceSlot;

class EmulatedExecutor final : public gpu::GpuExecutor {
 public:
  // Makes d's allocations through `a` (host memory), then uploads the weights.
  static Result<std::unique_ptr<gpu::GpuExecutor>> create(const gpu::ExecutorDesc& d, gpu::Allocator& a) {
    TANDEM_TRY(gpu::check_executor_desc(d));
    std::unique_ptr<EmulatedExecutor> e(new EmulatedExecutor(d));
    for (const gpu::AllocationDesc& ad : d.allocations) {
      TANDEM_ASSIGN_OR_RETURN(gpu::DeviceBuffer b, a.allocate(ad.bytes, ad.name));
      e->buffers_.push_back(std::move(b));  // on an error, `e` frees what was made
    }
    const auto upload = [&](const gpu::WeightUpload& w) {
      if (w.present()) std::memcpy(e->at(w.slot), w.host, static_cast<size_t>(w.slot.bytes));
    };
    for (const gpu::LayerDesc& l : d.layers)
      for (const gpu::WeightUpload* w : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                         &l.w_gate, &l.w_up, &l.w_down})
        upload(*w);
    upload(d.rope_freqs);
    if (d.has_head) {
      upload(d.output_norm);
      upload(d.output);
    }
    // The uploaded copies are all that is read from now on.
    const auto forget = [](gpu::WeightUpload& w) { w.host = nullptr; };
    for (gpu::LayerDesc& l : e->d_.layers)
      for (gpu::WeightUpload* w : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.wo, &l.ffn_norm,
                                   &l.w_gate, &l.w_up, &l.w_down})
        forget(*w);
    for (gpu::WeightUpload* w : {&e->d_.rope_freqs, &e->d_.output_norm, &e->d_.output}) forget(*w);
    return std::unique_ptr<gpu::GpuExecutor>(std::move(e));
  }

  int32_t first_layer() const override { return d_.first_layer; }
  int32_t n_layer() const override { return d_.model.n_layer; }
  bool has_head() const override { return d_.has_head; }
  gpu::KvDesc kv() const override { return d_.kv; }
  int32_t max_batch() const override { return d_.act.max_batch; }

  Status copy_blocks(std::span<const gpu::BlockCopy> copies) override {
    const size_t bb = block_bytes();
    for (const gpu::BlockCopy& c : copies) {
      if (c.from < 0 || c.from >= d_.kv.n_blocks || c.to < 0 || c.to >= d_.kv.n_blocks)
        return Error(Code::kInvalidArgument) << "GPU block copy " << c.from << " -> " << c.to << ": outside [0, "
                                             << d_.kv.n_blocks << ")";
      for (const gpu::LayerDesc& l : d_.layers)
        for (const DeviceSlot& pool : {l.k_pool, l.v_pool})
          std::memcpy(at(pool) + bb * static_cast<size_t>(c.to), at(pool) + bb * static_cast<size_t>(c.from), bb);
    }
    return Status::ok();
  }

  Status run(const gpu::ExecBatch& b) override;

 private:
  // A token of the chunk being run: its position and its sequence's block table.
  struct TokenAt {
    int32_t pos;
    std::span<const int32_t> table;
  };

  explicit EmulatedExecutor(const gpu::ExecutorDesc& d) : d_(d) {}

  std::byte* at(const DeviceSlot& s) const {
    return static_cast<std::byte*>(buffers_[static_cast<size_t>(s.alloc)].data()) + s.offset;
  }
  float* f32(const DeviceSlot& s) const { return reinterpret_cast<float*>(at(s)); }
  size_t block_bytes() const {
    return static_cast<size_t>(d_.model.n_head_kv) * static_cast<size_t>(d_.kv.block_tokens) *
           static_cast<size_t>(*row_bytes(d_.kv.type, static_cast<uint64_t>(d_.model.head_dim)));
  }

  // y [n, rows] = x [n, cols] . W^T, one reference GEMV per token row.
  void linear(const gpu::WeightUpload& w, const float* x, int64_t n, float* y) const {
    for (int64_t t = 0; t < n; ++t) cpu::gemv_ref(w.type, at(w.slot), w.rows, w.cols, x + t * w.cols, y + t * w.rows);
  }
  void add_bias(const gpu::WeightUpload& b, float* y, int64_t n) const {
    if (!b.slot.present()) return;
    const float* bias = f32(b.slot);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < b.cols; ++i) y[t * b.cols + i] += bias[i];
  }
  // x [n, n_embd] (activation x) through layer `l`; tokens[t] says where token t is.
  void layer(const gpu::LayerDesc& l, int64_t n, const std::vector<TokenAt>& tokens) const;
  // Logits of chunk rows `rows` (chunk-relative) into host rows `out_index` of `out`.
  void head(std::span<const int64_t> rows, std::span<const size_t> out_index, float* out) const;

  gpu::ExecutorDesc d_;                   // host pointers cleared after the upload
  std::vector<gpu::DeviceBuffer> buffers_;  // [allocations]
};

void EmulatedExecutor::layer(const gpu::LayerDesc& l, int64_t n, const std::vector<TokenAt>& tokens) const {
  const gpu::ExecModel& m = d_.model;
  const gpu::ActivationSlots& a = d_.act;
  const int64_t d = m.n_embd, qd = m.q_dim(), kvd = m.kv_dim();
  float *x = f32(a.x), *xn = f32(a.x_norm), *q = f32(a.q), *k = f32(a.k), *v = f32(a.v);
  float *attn = f32(a.attn_out), *gate = f32(a.ffn_gate), *up = f32(a.ffn_up), *proj = f32(a.proj_out);
  const auto residual = [&] {
    for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];
  };

  for (int64_t t = 0; t < n; ++t) cpu::rms_norm_ref(x + t * d, f32(l.attn_norm.slot), xn + t * d, d, m.rms_eps);
  linear(l.wq, xn, n, q);
  linear(l.wk, xn, n, k);
  linear(l.wv, xn, n, v);
  add_bias(l.bq, q, n);
  add_bias(l.bk, k, n);
  add_bias(l.bv, v, n);

  cpu::RopeParams rp;
  rp.n_rot = m.n_rot;
  rp.freq_base = m.rope_freq_base;
  rp.freq_scale = m.rope_freq_scale;
  rp.style = m.rope == gpu::RopeKind::kNeox ? cpu::RopeStyle::kNeox : cpu::RopeStyle::kNormal;
  rp.freq_factors = d_.rope_freqs.slot.present() ? f32(d_.rope_freqs.slot) : nullptr;
  const int32_t bt = d_.kv.block_tokens;
  // RoPE and the KV rows of every token first: a token attends to earlier tokens of
  // its own chunk.
  for (int64_t t = 0; t < n; ++t) {
    const TokenAt& at_t = tokens[static_cast<size_t>(t)];
    cpu::rope_ref(q + t * qd, m.n_head, m.head_dim, at_t.pos, rp);
    cpu::rope_ref(k + t * kvd, m.n_head_kv, m.head_dim, at_t.pos, rp);
    const int64_t block = at_t.table[static_cast<size_t>(at_t.pos / bt)];
    for (int32_t h = 0; h < m.n_head_kv; ++h) {
      const int64_t row = (block * m.n_head_kv + h) * bt + at_t.pos % bt;
      cpu::store_kv_row(at(l.k_pool), d_.kv.type, row, m.head_dim, k + t * kvd + int64_t{h} * m.head_dim);
      cpu::store_kv_row(at(l.v_pool), d_.kv.type, row, m.head_dim, v + t * kvd + int64_t{h} * m.head_dim);
    }
  }
  const cpu::PagedKv kv{at(l.k_pool), at(l.v_pool), d_.kv.type, m.n_head_kv, m.head_dim, bt};
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
  for (int64_t t = 0; t < n; ++t) {
    const TokenAt& at_t = tokens[static_cast<size_t>(t)];
    cpu::attention_decode_ref(q + t * qd, m.n_head, kv, at_t.table, at_t.pos + 1, scale, attn + t * qd);
  }
  linear(l.wo, attn, n, proj);
  residual();

  for (int64_t t = 0; t < n; ++t) cpu::rms_norm_ref(x + t * d, f32(l.ffn_norm.slot), xn + t * d, d, m.rms_eps);
  linear(l.w_gate, xn, n, gate);
  linear(l.w_up, xn, n, up);
  cpu::silu_mul_ref(gate, up, gate, n * m.n_ff);
  linear(l.w_down, gate, n, proj);
  residual();
}

void EmulatedExecutor::head(std::span<const int64_t> rows, std::span<const size_t> out_index, float* out) const {
  const gpu::ExecModel& m = d_.model;
  const int64_t d = m.n_embd;
  const float* x = f32(d_.act.x);
  float *xn = f32(d_.act.x_norm), *logits = f32(d_.act.logits);
  const size_t group = static_cast<size_t>(d_.act.logit_rows);  // rows the logits buffer holds
  for (size_t g = 0; g < rows.size(); g += group) {
    const size_t n = std::min(group, rows.size() - g);
    for (size_t k = 0; k < n; ++k)
      cpu::rms_norm_ref(x + rows[g + k] * d, f32(d_.output_norm.slot), xn + static_cast<int64_t>(k) * d, d, m.rms_eps);
    linear(d_.output, xn, static_cast<int64_t>(n), logits);
    for (size_t k = 0; k < n; ++k)  // device to host
      std::memcpy(out + out_index[g + k] * static_cast<size_t>(m.n_vocab), logits + k * static_cast<size_t>(m.n_vocab),
                  static_cast<size_t>(m.n_vocab) * sizeof(float));
  }
}

Status EmulatedExecutor::run(const gpu::ExecBatch& b) {
  TANDEM_TRY(gpu::check_exec_batch(*this, b, d_.act.max_seqs, d_.act.blocks_per_seq));
  const int32_t last = b.n_layers < 0 ? n_layer() : b.first_layer + b.n_layers;
  const int64_t d = d_.model.n_embd;
  const int64_t cap = d_.act.max_batch;
  std::vector<TokenAt> tokens;
  std::vector<int64_t> rows;
  std::vector<size_t> out_index;
  size_t seg = 0;
  for (int64_t c0 = 0; c0 < b.n_tokens; c0 += cap) {
    const int64_t n = std::min(cap, b.n_tokens - c0);
    std::memcpy(f32(d_.act.x), b.x + c0 * d, static_cast<size_t>(n * d) * sizeof(float));  // host to device
    if (last > b.first_layer) {
      // Host to device, as a GPU needs them: the chunk's segments, their block tables
      // and each token's position; the layers read the device copies.
      auto* positions = reinterpret_cast<int32_t*>(at(d_.act.positions));
      auto* tables = reinterpret_cast<int32_t*>(at(d_.act.block_tables));  // [max_seqs, blocks_per_seq]
      auto* segs = reinterpret_cast<int32_t*>(at(d_.act.segments));         // [max_seqs, 3]
      const int32_t bps = d_.act.blocks_per_seq;
      int32_t n_segs = 0;
      tokens.clear();
      for (int64_t t = c0; t < c0 + n; ++t) {
        while (b.segments[seg].first + b.segments[seg].n <= t) ++seg;
        const gpu::BatchSegment& s = b.segments[seg];
        if (t == c0 || t == s.first) {  // the segment's part in this chunk begins
          const int64_t first = std::max(c0, s.first);
          const int64_t len = std::min(c0 + n, s.first + s.n) - first;
          const int32_t pos0 = s.pos0 + static_cast<int32_t>(first - s.first);
          const int64_t blocks = (pos0 + len + d_.kv.block_tokens - 1) / d_.kv.block_tokens;
          std::copy_n(s.block_table.data(), blocks, tables + int64_t{n_segs} * bps);
          segs[3 * n_segs] = static_cast<int32_t>(first - c0);
          segs[3 * n_segs + 1] = static_cast<int32_t>(len);
          segs[3 * n_segs + 2] = pos0;
          ++n_segs;
        }
        positions[t - c0] = s.pos0 + static_cast<int32_t>(t - s.first);
        const int32_t* table = tables + int64_t{n_segs - 1} * bps;
        tokens.push_back({positions[t - c0], std::span<const int32_t>(table, static_cast<size_t>(bps))});
      }
      for (int32_t il = b.first_layer; il < last; ++il)
        layer(d_.layers[static_cast<size_t>(il - d_.first_layer)], n, tokens);
    }
    if (!b.logits) {  // device to host: the hidden state
      std::memcpy(b.out + c0 * d, f32(d_.act.x), static_cast<size_t>(n * d) * sizeof(float));
      continue;
    }
    rows.clear();
    out_index.clear();
    for (size_t i = 0; i < b.out_rows.size(); ++i)
      if (b.out_rows[i] >= c0 && b.out_rows[i] < c0 + n) {
        rows.push_back(b.out_rows[i] - c0);
        out_index.push_back(i);
      }
    head(rows, out_index, b.out);
  }
  return Status::ok();
}

}  // namespace

EmulatedGpuBackend::EmulatedGpuBackend(std::string refusal) : refusal_(std::move(refusal)) {
  info_.ordinal = 0;
  info_.name = "emulated GPU (host memory, reference kernels)";
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  info_.total_bytes = info_.free_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

Result<std::unique_ptr<gpu::Allocator>> EmulatedGpuBackend::make_allocator(uint64_t budget) {
  return std::unique_ptr<gpu::Allocator>(new gpu::HostMemoryAllocator(budget));
}

Result<std::unique_ptr<gpu::GpuExecutor>> EmulatedGpuBackend::create_executor(const gpu::ExecutorDesc& desc,
                                                                              gpu::Allocator& alloc) {
  if (!refusal_.empty()) return Error(Code::kUnsupported) << refusal_;
  if (dynamic_cast<gpu::HostMemoryAllocator*>(&alloc) == nullptr)
    return Error(Code::kInvalidArgument) << "the emulated GPU needs host memory: " << alloc.name()
                                         << " is not a gpu::HostMemoryAllocator (make_allocator gives one)";
  return EmulatedExecutor::create(desc, alloc);
}

}  // namespace tandem
