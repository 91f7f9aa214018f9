#include "gpu/cuda/cuda_executor.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/attention_scratch.h"
#include "gpu/cuda/attention_common.h"
#include "gpu/cuda/chunk_inputs.h"
#include "gpu/cuda/copy.h"
#include "gpu/cuda/cublas_handle.h"
#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/cuda_forward.h"
#include "gpu/cuda/cuda_graph.h"
#include "gpu/cuda/exec_chunk.h"
#include "gpu/cuda/graph_cache.h"
#include "gpu/cuda/linear.h"
#include "gpu/cuda/pinned_buffer.h"
#include "gpu/cuda/staged_upload.h"
#include "gpu/cuda/stream.h"

namespace tandem::gpu {
namespace {

constexpr uint64_t kUploadChunkBytes = uint64_t{16} << 20;  // two pinned halves of this

// Every matrix and vector of a layer, with its name for errors.
template <typename L, typename F>
void for_each_weight(L& l, F&& f) {
  f(l.attn_norm, "attn_norm");
  f(l.wq, "attn_q");
  f(l.wk, "attn_k");
  f(l.wv, "attn_v");
  f(l.bq, "attn_q.bias");
  f(l.bk, "attn_k.bias");
  f(l.bv, "attn_v.bias");
  f(l.wo, "attn_output");
  f(l.ffn_norm, "ffn_norm");
  f(l.w_gate, "ffn_gate");
  f(l.w_up, "ffn_up");
  f(l.w_down, "ffn_down");
}

// The pinned staging buffer: a mirror of the chunk inputs' device region (the same
// offsets, chunk_inputs.h), then the results' area (out): the hidden state of max_batch
// rows or logit_rows rows of logits, whichever is larger.
struct Staging {
  uint64_t out = 0;
  uint64_t total = 0;
};

Staging staging_of(const ExecutorDesc& d, const ChunkInputs& ci) {
  const ActivationSlots& a = d.act;
  const uint64_t hidden = static_cast<uint64_t>(a.max_batch) * static_cast<uint64_t>(d.model.n_embd);
  const uint64_t logits = d.has_head ? static_cast<uint64_t>(a.logit_rows) * static_cast<uint64_t>(d.model.n_vocab) : 0;
  Staging st;
  st.out = align_up(ci.bytes);
  st.total = st.out + align_up(std::max(hidden, logits) * sizeof(float));
  return st;
}

// The split-K workspace any decode launch of this executor may need (its SM count
// capped at kAttnPlanMaxSms, as the plan sized it).
uint64_t attention_need(const ExecutorDesc& d, int32_t n_sm) {
  if (d.layers.empty()) return 0;
  AttnScratchShape s;
  s.n_heads = d.model.n_head;
  s.n_kv_heads = d.model.n_head_kv;
  s.head_dim = d.model.head_dim;
  s.max_batch = d.act.max_batch;
  s.max_ctx = d.act.blocks_per_seq * d.kv.block_tokens;
  return attention_scratch_bytes(s, n_sm);
}

// kUnsupported naming the first tensor or shape the kernels cannot take.
Status check_supported(const ExecutorDesc& d) {
  const auto unsupported = [] { return Error(Code::kUnsupported) << "CUDA executor: "; };
  const auto matrix = [&](const WeightUpload& w, const std::string& name) -> Status {
    if (const char* why = linear_problem(w.type, w.cols))
      return unsupported() << name << " is " << dtype_name(w.type) << " [" << w.rows << ", " << w.cols << "]: " << why;
    if (w.slot.offset % 16 != 0)
      return Error(Code::kInvalidArgument) << "CUDA executor: " << name << " at +" << w.slot.offset
                                           << " is not 16-byte aligned (the GEMV reads 16 bytes at a time)";
    return Status::ok();
  };
  for (const LayerDesc& l : d.layers) {
    const std::string prefix = "blk." + std::to_string(l.layer) + ".";
    for (const auto& [w, name] : {std::pair{&l.wq, "attn_q"}, {&l.wk, "attn_k"}, {&l.wv, "attn_v"},
                                  {&l.wo, "attn_output"}, {&l.w_gate, "ffn_gate"}, {&l.w_up, "ffn_up"},
                                  {&l.w_down, "ffn_down"}})
      TANDEM_TRY(matrix(*w, prefix + name));
  }
  if (d.has_head) TANDEM_TRY(matrix(d.output, "output"));
  const ExecModel& m = d.model;
  if (!d.layers.empty()) {
    if (const char* why = attn::attention_shape_problem(d.kv.type, m.n_head, m.n_head_kv, m.head_dim, d.kv.block_tokens))
      return unsupported() << "attention over " << dtype_name(d.kv.type) << " KV with " << m.n_head << " heads, "
                           << m.n_head_kv << " KV heads of " << m.head_dim << ": " << why;
    if (d.act.max_batch > 65535)
      return unsupported() << "batches of " << d.act.max_batch << " tokens (decode attention takes 65535)";
  }
  return Status::ok();
}

class CudaExecutor final : public GpuExecutor {
 public:
  static Result<std::unique_ptr<GpuExecutor>> create(const ExecutorDesc& d, Allocator& alloc, const DeviceInfo& info,
                                                     const CudaExecutorOptions& o);

  ~CudaExecutor() override {
    if (stream_.get() != nullptr) cudaStreamSynchronize(stream_.get());  // nothing may still use the buffers
  }

  int32_t first_layer() const override { return d_.first_layer; }
  int32_t n_layer() const override { return d_.model.n_layer; }
  bool has_head() const override { return d_.has_head; }
  KvDesc kv() const override { return d_.kv; }
  int32_t max_batch() const override { return d_.act.max_batch; }

  Status copy_blocks(std::span<const BlockCopy> copies) override;
  Status run(const ExecBatch& b) override;
  ExecutorStats stats() const override;

 private:
  CudaExecutor(const ExecutorDesc& d, const DeviceInfo& info, const ChunkInputs& ci)
      : d_(d), device_(info.ordinal), n_sm_(std::min(std::max(1, info.sm_count), kAttnPlanMaxSms)), ci_(ci),
        staging_(staging_of(d, ci)), ctx_limit_(d.act.blocks_per_seq * d.kv.block_tokens),
        graphs_(d.graph_reserve.present() ? d.graph_reserve.bytes : 0) {}

  std::byte* at(const DeviceSlot& s) const {
    return static_cast<std::byte*>(buffers_[static_cast<size_t>(s.alloc)].data()) + s.offset;
  }
  template <typename T>
  T* slot(const DeviceSlot& s) const { return s.present() ? reinterpret_cast<T*>(at(s)) : nullptr; }
  DeviceMatrix matrix(const WeightUpload& w) const { return DeviceMatrix{at(w.slot), w.type, w.rows, w.cols}; }
  std::byte* staging(uint64_t off) const { return io_.as<std::byte>() + off; }
  uint64_t block_bytes() const {
    return static_cast<uint64_t>(d_.model.n_head_kv) * static_cast<uint64_t>(d_.kv.block_tokens) *
           *row_bytes(d_.kv.type, static_cast<uint64_t>(d_.model.head_dim));
  }
  Status set_device() const { return cuda_status(cudaSetDevice(device_), "cudaSetDevice", std::to_string(device_)); }

  Status allocate(Allocator& alloc);
  bool graph_reserve_alone() const;  // the reserve is a whole allocation of its own
  bool graphs_possible(const CudaExecutorOptions& o) const;
  Status bind();            // stream, cuBLAS, device pointers, staging
  Status upload_weights();  // and zeroes the KV pools
  // Copies chunk rows [c0, c0 + n) of b in (one copy); `layers`: with the chunk's
  // attention inputs, planned into meta_.
  Status stage_in(const ExecBatch& b, int64_t c0, int64_t n, bool layers);
  // Layers [first, end) on the chunk's n rows: replayed, captured or launched directly.
  Status run_layers(int32_t first, int32_t end, int64_t n);
  Status launch_layers(int32_t first, int32_t end, int64_t n) const;
  // Captures the layers as key's graph and launches it; false (nothing launched) when
  // the graph does not fit the reserve or the capture failed: the key stays direct.
  Result<bool> capture_and_launch(const GraphKey& key);
  // The logits of b.out_rows inside the chunk, into b.out.
  Status logits_out(const ExecBatch& b, int64_t c0, int64_t n);

  ExecutorDesc d_;                      // host pointers cleared after the upload
  const int32_t device_;
  const int32_t n_sm_;                  // for split plans: the device's SMs, at most kAttnPlanMaxSms
  const ChunkInputs ci_;
  const Staging staging_;
  const int32_t ctx_limit_;             // the most keys a token attends to
  std::vector<DeviceBuffer> buffers_;   // [allocations]; declared first, freed last
  CudaStream stream_;
  CublasHandle blas_;
  PinnedBuffer io_;                     // run()'s staging (Staging)
  std::vector<DeviceLayer> layers_;     // [n_layer - first_layer]
  ForwardEnv env_;
  ChunkMeta meta_;
  std::vector<int64_t> rows_;
  std::vector<size_t> out_index_;
  std::vector<RowRun> runs_;
  bool graphs_on_ = false;
  GraphCache<CudaGraphExec> graphs_;    // destroyed before the stream and the buffers
  ExecutorStats stats_;
};

Result<std::unique_ptr<GpuExecutor>> CudaExecutor::create(const ExecutorDesc& d, Allocator& alloc,
                                                          const DeviceInfo& info, const CudaExecutorOptions& o) {
  TANDEM_TRY(check_executor_desc(d));
  TANDEM_TRY(check_supported(d));
  ChunkInputs ci;
  if (!d.layers.empty()) {
    TANDEM_ASSIGN_OR_RETURN(ci, chunk_inputs_layout(d));
  } else {  // the head alone: x is the only input; the region is x
    ci.alloc = d.act.x.alloc;
    ci.base = d.act.x.offset;
    ci.x_row_bytes = static_cast<uint64_t>(d.model.n_embd) * sizeof(float);
    ci.bytes = static_cast<uint64_t>(d.act.max_batch) * ci.x_row_bytes;
  }
  std::unique_ptr<CudaExecutor> e(new CudaExecutor(d, info, ci));
  const uint64_t need = attention_need(d, e->n_sm_);
  const uint64_t have = d.attention_scratch.present() ? d.attention_scratch.bytes : 0;
  if (have < need || d.attention_scratch.offset % 16 != 0)
    return Error(Code::kInvalidArgument) << "CUDA executor: the plan's attention scratch (" << have << " bytes at +"
                                         << d.attention_scratch.offset << ") must hold " << need
                                         << " bytes, 16-byte aligned (split-K decode attention of "
                                         << d.act.max_batch << " tokens over contexts up to "
                                         << d.act.blocks_per_seq * d.kv.block_tokens << " on " << e->n_sm_ << " SMs)";
  TANDEM_TRY(e->set_device());
  TANDEM_TRY(e->allocate(alloc));  // on an error, `e` frees what was made
  if (e->graph_reserve_alone()) {  // the driver's, for the graphs (gpu/reserves.h)
    DeviceBuffer& reserve = e->buffers_[static_cast<size_t>(d.graph_reserve.alloc)];
    e->stats_.returned_bytes = reserve.charged();
    e->stats_.returned_allocations = 1;
    reserve.reset();
  }
  e->graphs_on_ = e->graphs_possible(o);
  e->stats_.graphs_on = e->graphs_on_;
  TANDEM_TRY(e->bind());
  TANDEM_TRY(e->upload_weights());
  // The uploaded copies are all that is read from now on.
  for (LayerDesc& l : e->d_.layers) for_each_weight(l, [](WeightUpload& w, const char*) { w.host = nullptr; });
  for (WeightUpload* w : {&e->d_.rope_freqs, &e->d_.output_norm, &e->d_.output}) w->host = nullptr;
  return std::unique_ptr<GpuExecutor>(std::move(e));
}

Status CudaExecutor::allocate(Allocator& alloc) {
  buffers_.reserve(d_.allocations.size());
  for (const AllocationDesc& ad : d_.allocations) {
    TANDEM_ASSIGN_OR_RETURN(DeviceBuffer b, alloc.allocate(ad.bytes, ad.name));
    buffers_.push_back(std::move(b));
  }
  return Status::ok();
}

bool CudaExecutor::graph_reserve_alone() const {
  const DeviceSlot& r = d_.graph_reserve;
  if (!r.present() || r.offset != 0) return false;
  const auto in_reserve = [&](const DeviceSlot& s) { return s.present() && s.alloc == r.alloc; };
  const ActivationSlots& a = d_.act;
  for (const DeviceSlot* s : {&a.positions, &a.table_start, &a.n_ctx, &a.segments, &a.block_tables, &a.x, &a.x_norm,
                              &a.q, &a.k, &a.v, &a.attn_out, &a.ffn_gate, &a.ffn_up, &a.proj_out, &a.logits,
                              &d_.workspace_weights, &d_.workspace_input, &d_.cublas_workspace, &d_.attention_scratch,
                              &d_.rope_freqs.slot, &d_.output_norm.slot, &d_.output.slot})
    if (in_reserve(*s)) return false;
  for (const LayerDesc& l : d_.layers) {
    bool shared = in_reserve(l.k_pool) || in_reserve(l.v_pool);
    for_each_weight(l, [&](const WeightUpload& w, const char*) { shared = shared || in_reserve(w.slot); });
    if (shared) return false;
  }
  return true;
}

bool CudaExecutor::graphs_possible(const CudaExecutorOptions& o) const {
  if (!o.graphs || !d_.graphs || d_.layers.empty() || !graph_reserve_alone()) return false;
  bool f32 = false;  // a cuBLAS SGEMM inside the capture needs the plan's workspace
  for (const LayerDesc& l : d_.layers)
    for (const WeightUpload* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      f32 = f32 || w->type == DType::kF32;
  return !f32 || d_.cublas_workspace.present();
}

Status CudaExecutor::bind() {
  TANDEM_ASSIGN_OR_RETURN(stream_, CudaStream::create());
  TANDEM_ASSIGN_OR_RETURN(blas_, CublasHandle::create());
  TANDEM_TRY(blas_.set_stream(stream_.get()));  // resets the workspace: set it after
  if (d_.cublas_workspace.present()) TANDEM_TRY(blas_.set_workspace(at(d_.cublas_workspace), d_.cublas_workspace.bytes));
  if (cublasStatus_t st = cublasSetMathMode(blas_.get(), CUBLAS_DEFAULT_MATH); st != CUBLAS_STATUS_SUCCESS)
    return cublas_error(st, "cublasSetMathMode", "CUBLAS_DEFAULT_MATH (f32 products in f32, no TF32)");
  TANDEM_ASSIGN_OR_RETURN(io_, PinnedBuffer::create(staging_.total, "GPU executor staging"));

  for (const LayerDesc& l : d_.layers) {
    DeviceLayer dl;
    dl.attn_norm = slot<const float>(l.attn_norm.slot);
    dl.wq = matrix(l.wq);
    dl.wk = matrix(l.wk);
    dl.wv = matrix(l.wv);
    dl.bq = slot<const float>(l.bq.slot);
    dl.bk = slot<const float>(l.bk.slot);
    dl.bv = slot<const float>(l.bv.slot);
    dl.wo = matrix(l.wo);
    dl.ffn_norm = slot<const float>(l.ffn_norm.slot);
    dl.w_gate = matrix(l.w_gate);
    dl.w_up = matrix(l.w_up);
    dl.w_down = matrix(l.w_down);
    dl.k_pool = at(l.k_pool);
    dl.v_pool = at(l.v_pool);
    layers_.push_back(dl);
  }
  const ActivationSlots& a = d_.act;
  ForwardEnv& env = env_;
  env.model = d_.model;
  env.kv = d_.kv;
  env.blocks_per_seq = a.blocks_per_seq;
  env.rope_freqs = slot<const float>(d_.rope_freqs.slot);
  env.lane.stream = stream_.get();
  env.lane.blas = blas_.get();
  if (d_.workspace_weights.present() && d_.workspace_input.present())
    env.lane.ws = GemmWorkspace{at(d_.workspace_weights), d_.workspace_weights.bytes, at(d_.workspace_input),
                                d_.workspace_input.bytes};
  DeviceActivations& act = env.act;
  act.x = slot<float>(a.x);
  act.x_norm = slot<float>(a.x_norm);
  act.q = slot<float>(a.q);
  act.k = slot<float>(a.k);
  act.v = slot<float>(a.v);
  act.attn_out = slot<float>(a.attn_out);
  act.ffn_gate = slot<float>(a.ffn_gate);
  act.ffn_up = slot<float>(a.ffn_up);
  act.proj_out = slot<float>(a.proj_out);
  act.logits = slot<float>(a.logits);
  act.positions = slot<int32_t>(a.positions);
  act.block_tables = slot<int32_t>(a.block_tables);
  act.table_start = slot<int32_t>(a.table_start);
  act.n_ctx = slot<int32_t>(a.n_ctx);
  env.attn_workspace = slot<std::byte>(d_.attention_scratch);
  env.attn_workspace_bytes = d_.attention_scratch.present() ? d_.attention_scratch.bytes : 0;
  env.n_sm = n_sm_;
  return Status::ok();
}

Status CudaExecutor::upload_weights() {
  for (const LayerDesc& l : d_.layers)
    for (const DeviceSlot& pool : {l.k_pool, l.v_pool})
      TANDEM_TRY(cuda_status(cudaMemsetAsync(at(pool), 0, pool.bytes, stream_.get()), "cudaMemsetAsync",
                             std::to_string(pool.bytes) + " bytes of blk." + std::to_string(l.layer) + " KV pool"));
  uint64_t largest = 0;
  const auto measure = [&](const WeightUpload& w, const char*) {
    if (w.present()) largest = std::max(largest, w.slot.bytes);
  };
  for (const LayerDesc& l : d_.layers) for_each_weight(l, measure);
  for (const WeightUpload* w : {&d_.rope_freqs, &d_.output_norm, &d_.output}) measure(*w, "");
  if (largest == 0) return stream_.synchronize();
  TANDEM_ASSIGN_OR_RETURN(StagedUpload up,
                          StagedUpload::create(std::min(kUploadChunkBytes, align_up(largest, 4096)), stream_.get()));
  std::string name;
  const auto upload = [&](const WeightUpload& w, const std::string& what) -> Status {
    if (!w.present()) return Status::ok();
    return up.upload(at(w.slot), w.host, w.slot.bytes, what.c_str());
  };
  for (const LayerDesc& l : d_.layers) {
    Status st = Status::ok();
    for_each_weight(l, [&](const WeightUpload& w, const char* n) {
      if (st.is_ok()) st = upload(w, "blk." + std::to_string(l.layer) + "." + n);
    });
    TANDEM_TRY(std::move(st));
  }
  TANDEM_TRY(upload(d_.rope_freqs, "rope_freqs"));
  if (d_.has_head) {
    TANDEM_TRY(upload(d_.output_norm, "output_norm"));
    TANDEM_TRY(upload(d_.output, "output"));
  }
  TANDEM_TRY(up.finish());
  return stream_.synchronize();
}

Status CudaExecutor::copy_blocks(std::span<const BlockCopy> copies) {
  for (const BlockCopy& c : copies)
    if (c.from < 0 || c.from >= d_.kv.n_blocks || c.to < 0 || c.to >= d_.kv.n_blocks)
      return Error(Code::kInvalidArgument) << "GPU block copy " << c.from << " -> " << c.to << ": outside [0, "
                                           << d_.kv.n_blocks << ")";
  TANDEM_TRY(set_device());
  const uint64_t bb = block_bytes();
  for (const BlockCopy& c : copies) {
    if (c.from == c.to) continue;
    for (const LayerDesc& l : d_.layers)
      for (const DeviceSlot& pool : {l.k_pool, l.v_pool})
        TANDEM_TRY(copy_on_device(at(pool) + bb * static_cast<uint64_t>(c.to), at(pool) + bb * static_cast<uint64_t>(c.from),
                                  bb, stream_.get()));
  }
  return Status::ok();
}

Status CudaExecutor::stage_in(const ExecBatch& b, int64_t c0, int64_t n, bool layers) {
  const cudaStream_t s = stream_.get();
  std::byte* region = buffers_[static_cast<size_t>(ci_.alloc)].as<std::byte>() + ci_.base;  // device
  const uint64_t x_bytes = static_cast<uint64_t>(n) * ci_.x_row_bytes;
  std::memcpy(staging(ci_.x), b.x + c0 * d_.model.n_embd, x_bytes);
  if (!layers) return copy_to_device(region + ci_.x, staging(ci_.x), x_bytes, s);
  plan_chunk(b.segments, c0, n, d_.kv.block_tokens, d_.act.blocks_per_seq, meta_);
  fix_decode_plan(meta_, n, ctx_limit_);
  const auto put = [&](uint64_t off, const std::vector<int32_t>& v) {
    std::memcpy(staging(off), v.data(), v.size() * sizeof(int32_t));
  };
  put(ci_.positions, meta_.positions);
  put(ci_.table_start, meta_.table_start);
  put(ci_.n_ctx, meta_.n_ctx);
  put(ci_.segments, meta_.segments);
  put(ci_.block_tables, meta_.tables);
  return copy_to_device(region, staging(0), ci_.copy_bytes(n), s);  // the mirror's first bytes: everything
}

Status CudaExecutor::launch_layers(int32_t first, int32_t end, int64_t n) const {
  for (int32_t il = first; il < end; ++il)
    TANDEM_TRY(layer_forward(env_, layers_[static_cast<size_t>(il - d_.first_layer)], n, meta_.groups));
  return Status::ok();
}

Status CudaExecutor::run_layers(int32_t first, int32_t end, int64_t n) {
  if (graphs_on_ && is_graph_chunk(meta_, n, end > first)) {
    const GraphKey key{static_cast<int32_t>(n), first, end};
    switch (graphs_.next(key)) {
      case GraphStep::kReplay:
        TANDEM_TRY(graphs_.exec(key).launch(stream_.get()));
        ++stats_.graph_replays;
        return Status::ok();
      case GraphStep::kCapture: {
        TANDEM_ASSIGN_OR_RETURN(const bool launched, capture_and_launch(key));
        if (launched) return Status::ok();
        break;
      }
      case GraphStep::kDirect: break;
    }
  }
  ++stats_.direct_chunks;
  return launch_layers(first, end, n);
}

Result<bool> CudaExecutor::capture_and_launch(const GraphKey& key) {
  const cudaStream_t s = stream_.get();
  // A failure of the capture machinery leaves the key to direct launches (which report
  // a real launch error themselves); stderr says why once.
  const auto give_up = [&](const Error& e) -> Result<bool> {
    graphs_.refuse(key);
    if (stats_.graph_failures++ == 0)
      std::fprintf(stderr, "tandem: warning: CUDA graph of %d tokens not used (its chunks run kernel by kernel): %s\n",
                   key.n_tokens, e.message().c_str());
    return false;
  };
  auto graph = capture_graph(s, [&] { return launch_layers(key.first_layer, key.end_layer, key.n_tokens); });
  if (!graph) return give_up(graph.error());
  auto nodes = graph->node_count();
  if (!nodes) return give_up(nodes.error());
  if (!graphs_.fits(key, *nodes)) {
    ++stats_.graph_refusals;
    return false;
  }
  size_t free_before = 0, free_after = 0, total = 0;
  const bool measured = cudaMemGetInfo(&free_before, &total) == cudaSuccess;
  auto exec = graph->instantiate(s);
  if (!exec) return give_up(exec.error());
  if (measured && cudaStreamSynchronize(s) == cudaSuccess && cudaMemGetInfo(&free_after, &total) == cudaSuccess &&
      free_after < free_before)
    stats_.graph_measured_bytes += free_before - free_after;
  cudaGetLastError();  // a failed measurement is no error of the run
  TANDEM_TRY(exec->launch(s));
  graphs_.insert(key, std::move(*exec), *nodes);
  ++stats_.graph_captures;
  ++stats_.graph_replays;
  return true;
}

Status CudaExecutor::logits_out(const ExecBatch& b, int64_t c0, int64_t n) {
  chunk_out_rows(b.out_rows, c0, n, rows_, out_index_);
  const auto n_vocab = static_cast<size_t>(d_.model.n_vocab);
  const auto group = static_cast<size_t>(d_.act.logit_rows);  // rows the logits buffer holds
  const DeviceMatrix output = matrix(d_.output);
  for (size_t g = 0; g < rows_.size(); g += group) {
    const size_t k = std::min(group, rows_.size() - g);
    row_runs(std::span<const int64_t>(rows_).subspan(g, k), runs_);
    TANDEM_TRY(head_forward(env_, slot<const float>(d_.output_norm.slot), output, runs_, static_cast<int64_t>(k)));
    TANDEM_TRY(copy_to_host(staging(staging_.out), env_.act.logits, k * n_vocab * sizeof(float), stream_.get()));
    TANDEM_TRY(stream_.synchronize());
    const auto* logits = reinterpret_cast<const float*>(staging(staging_.out));
    for (size_t i = 0; i < k; ++i)
      std::memcpy(b.out + out_index_[g + i] * n_vocab, logits + i * n_vocab, n_vocab * sizeof(float));
  }
  return Status::ok();
}

Status CudaExecutor::run(const ExecBatch& b) {
  TANDEM_TRY(check_exec_batch(*this, b, d_.act.max_seqs, d_.act.blocks_per_seq));
  TANDEM_TRY(set_device());
  const int32_t last = b.n_layers < 0 ? n_layer() : b.first_layer + b.n_layers;
  const bool layers = last > b.first_layer;
  const int64_t d = d_.model.n_embd;
  const int64_t cap = d_.act.max_batch;
  for (int64_t c0 = 0; c0 < b.n_tokens; c0 += cap) {
    const int64_t n = std::min(cap, b.n_tokens - c0);
    TANDEM_TRY(stage_in(b, c0, n, layers));
    if (layers) TANDEM_TRY(run_layers(b.first_layer, last, n));
    if (b.logits) {
      TANDEM_TRY(logits_out(b, c0, n));
    } else {  // the hidden state
      const auto bytes = static_cast<uint64_t>(n * d) * sizeof(float);
      TANDEM_TRY(copy_to_host(staging(staging_.out), env_.act.x, bytes, stream_.get()));
      TANDEM_TRY(stream_.synchronize());
      std::memcpy(b.out + c0 * d, staging(staging_.out), bytes);
    }
    TANDEM_TRY(stream_.synchronize());  // the staging buffer is free for the next chunk
  }
  return Status::ok();
}

ExecutorStats CudaExecutor::stats() const {
  ExecutorStats s = stats_;
  s.graphs_cached = graphs_.cached();
  s.graph_bytes = graphs_.used();
  return s;
}

}  // namespace

Result<std::unique_ptr<GpuExecutor>> create_cuda_executor(const ExecutorDesc& desc, Allocator& alloc,
                                                          const DeviceInfo& device, const CudaExecutorOptions& options) {
  return CudaExecutor::create(desc, alloc, device, options);
}

}  // namespace tandem::gpu
