// The layer executor: runs the last layers of a Llama-family model, and its output head,
// on a device. The engine runs layers [0, first_layer) on the CPU, then hands the hidden
// state to the executor, which runs [first_layer, n_layer) and the head on weights and
// KV cache held in device memory, and returns logits (or the hidden state) to the host.
//
// What a device holds is decided by the engine's memory plan (engine/memory_plan.h),
// not here: ExecutorDesc lists the plan's allocations in order and, for every tensor,
// buffer and KV pool, its slot (an allocation and an offset in it). An executor makes
// exactly those allocations through the budgeted Allocator it is given, so the
// allocator's high-water mark is the plan's total, then uploads each weight from host
// memory into its slot. Nothing else is allocated on the device afterwards.
//
// Per run(): one host-to-device copy of the batch's hidden state in and one copy of
// the result out (the PCIe boundary transfer); everything between stays on the device.
// A batch of more than max_batch tokens runs in chunks of max_batch (each chunk is a
// copy in, its layers, a copy out), and logits of more rows than the logits buffer
// holds come back in chunks of logit_rows: both exact, as every op is per token row
// except attention, which reads only earlier positions.
//
// The KV cache of the device's layers is paged exactly like the CPU's KvCache: the
// same block ids, block tables and block size, pools of [n_blocks, n_head_kv,
// block_tokens, head_dim] of the KV type per layer. The engine owns the block tables
// (one BlockPool for all layers); the device only stores rows.
//
// For a CUDA implementation: everything a step needs is in ExecBatch and the chunk's
// inputs go to fixed device slots, so the CUDA executor replays decode steps as CUDA
// graphs per batch shape (cuda_executor.h; ExecutorDesc::graphs); copies (inputs in,
// results out, block copies) are stream-ordered on one stream; run() returns when the
// results are in host memory. No CUDA types appear here: this crosses the dlopen
// boundary (gpu/backend.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace tandem::gpu {

enum class RopeKind : uint8_t { kNormal, kNeox };  // pairs (2i, 2i+1) vs (i, i + n_rot/2)

// The hyperparameters the layers need.
struct ExecModel {
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  int32_t n_ff = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_vocab = 0;
  int32_t n_rot = 0;          // rotated dims per head (even, <= head_dim)
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.f;
  float rope_freq_scale = 1.f;
  RopeKind rope = RopeKind::kNormal;

  int64_t q_dim() const { return int64_t{n_head} * head_dim; }
  int64_t kv_dim() const { return int64_t{n_head_kv} * head_dim; }
};

// One device allocation, made in ExecutorDesc::allocations order.
struct AllocationDesc {
  std::string name;   // "blk.31 weights" (errors name it)
  uint64_t bytes = 0;
};

// Bytes [offset, offset + bytes) of allocation `alloc` (an index into
// ExecutorDesc::allocations); alloc -1: absent.
struct DeviceSlot {
  int32_t alloc = -1;
  uint64_t offset = 0;
  uint64_t bytes = 0;
  bool present() const { return alloc >= 0; }
};

// A weight to upload: `host` holds [rows, cols] of `type`, row-major (cols = GGUF ne0,
// contiguous; vectors have rows = 1), row_bytes(type, cols) * rows == slot.bytes bytes.
// host null: an absent tensor (a bias of a model without biases); slot absent too.
struct WeightUpload {
  const void* host = nullptr;
  DType type = DType::kF32;
  int64_t cols = 0;
  int64_t rows = 0;
  DeviceSlot slot;
  bool present() const { return host != nullptr; }
};

// One repeating layer on the device. Norms and biases are f32 vectors.
struct LayerDesc {
  int32_t layer = 0;
  WeightUpload attn_norm;         // [n_embd]
  WeightUpload wq, wk, wv;        // [q_dim | kv_dim, n_embd]
  WeightUpload bq, bk, bv;        // [q_dim | kv_dim] or absent
  WeightUpload wo;                // [n_embd, q_dim]
  WeightUpload ffn_norm;          // [n_embd]
  WeightUpload w_gate, w_up;      // [n_ff, n_embd]
  WeightUpload w_down;            // [n_embd, n_ff]
  DeviceSlot k_pool, v_pool;      // [n_blocks, n_head_kv, block_tokens, head_dim] of KvDesc::type
};

struct KvDesc {
  DType type = DType::kF16;       // f32, f16, bf16 or q8_0 (rows as cpu/ops_ref.h's PagedKv)
  int32_t n_blocks = 0;
  int32_t block_tokens = 0;
};

// Buffers of one forward over up to max_batch tokens of up to max_seqs sequences: f32,
// row-major [max_batch, width]; logits [logit_rows, n_vocab]. The chunk's inputs, copied
// in with x for the attention kernels: positions, table_start and n_ctx i32 [max_batch]
// (each token's position, the offset of its block table in block_tables, and the keys
// it attends to), segments i32 [max_seqs, 3] (first row, tokens, first position) and
// the block tables i32 [max_seqs, blocks_per_seq]. The memory plan lays these five and
// x out in that order, each at the previous one's offset + align_up(bytes), so that the
// CUDA executor moves them with one copy (gpu/cuda/chunk_inputs.h).
struct ActivationSlots {
  int32_t max_batch = 0;
  int32_t logit_rows = 0;
  int32_t max_seqs = 0;
  int32_t blocks_per_seq = 0;
  DeviceSlot positions;
  DeviceSlot table_start, n_ctx;
  DeviceSlot segments;
  DeviceSlot block_tables;
  DeviceSlot x, x_norm;           // [., n_embd]
  DeviceSlot q, k, v;             // [., q_dim], [., kv_dim], [., kv_dim]
  DeviceSlot attn_out;            // [., q_dim]
  DeviceSlot ffn_gate, ffn_up;    // [., n_ff]
  DeviceSlot proj_out;            // [., n_embd]
  DeviceSlot logits;
};

// Everything an executor is made from. Host pointers need only live until
// create_executor returns (the weights are copied).
struct ExecutorDesc {
  ExecModel model;
  std::vector<AllocationDesc> allocations;  // all of them, in order
  int32_t first_layer = 0;                  // layers [first_layer, model.n_layer) run here
  std::vector<LayerDesc> layers;            // [n_layer - first_layer], in layer order
  WeightUpload rope_freqs;                  // [n_rot / 2] f32 (theta_i /= f_i) or absent
  bool has_head = false;                    // output norm and matrix on the device
  WeightUpload output_norm;                 // [n_embd]
  WeightUpload output;                      // [n_vocab, n_embd] (token_embd when tied)
  KvDesc kv;
  ActivationSlots act;
  // For the CUDA executor (large-batch dequantization, cuBLAS, split-K decode attention
  // (gpu/attention_scratch.h), CUDA graphs' own memory); may be absent.
  DeviceSlot workspace_weights, workspace_input, cublas_workspace, attention_scratch, graph_reserve;
  // CUDA: replay decode steps as CUDA graphs (cuda_executor.h). TANDEM_CUDA_GRAPHS=0 in
  // the environment turns them off for every executor of the process.
  bool graphs = true;
};

// kInvalidArgument naming the first problem: a slot outside its allocation or of the
// wrong size for its tensor's shape and type, a required tensor or buffer missing,
// layers not [first_layer, n_layer) in order, activation buffers smaller than
// max_batch (or logit_rows) rows, a KV type or shape that cannot be.
Status check_executor_desc(const ExecutorDesc& d);

// One sequence's tokens in a batch: rows [first, first + n) of x, at positions
// pos0 .. pos0 + n - 1 of the sequence, whose blocks are `block_table`
// ([>= ceil((pos0 + n) / block_tokens)] block ids, logical order). Token i attends to
// positions [0, pos0 + i].
struct BatchSegment {
  int64_t first = 0;
  int64_t n = 0;
  int32_t pos0 = 0;
  std::span<const int32_t> block_table;
};

// A KV block copied on write by the engine: every device layer's K and V rows of block
// `from` into block `to`.
struct BlockCopy {
  int32_t from = 0;
  int32_t to = 0;
};

// One call of run().
struct ExecBatch {
  int32_t first_layer = 0;                 // >= the executor's first layer
  int32_t n_layers = -1;                   // -1: through the last layer
  const float* x = nullptr;                // host [n_tokens, n_embd]
  int64_t n_tokens = 0;
  std::span<const BatchSegment> segments;  // cover rows [0, n_tokens) (none when n_layers == 0)
  // With logits: the head runs on rows out_rows (of x after the layers) and `out` gets
  // [out_rows.size(), n_vocab]; needs has_head and the last layer. Without: `out` gets
  // the hidden state [n_tokens, n_embd] (out may equal x).
  bool logits = false;
  std::span<const int64_t> out_rows;
  float* out = nullptr;                    // host
};

// What an executor did with its chunks (the CUDA executor's graphs; cuda_executor.h).
struct ExecutorStats {
  bool graphs_on = false;        // CUDA graphs enabled (desc.graphs, the environment, the plan)
  int64_t direct_chunks = 0;     // chunks whose layers were launched one by one
  int64_t graph_captures = 0;    // graphs captured and instantiated
  int64_t graph_replays = 0;     // chunks whose layers ran as a graph (the capturing run included)
  int64_t graph_refusals = 0;    // decode shapes left to direct launches: the graph reserve was full
  int64_t graph_failures = 0;    // captures or instantiations that failed (stderr names the first): direct
  int32_t graphs_cached = 0;
  uint64_t graph_bytes = 0;      // device memory of the cached graphs, as estimated (gpu/reserves.h)
  uint64_t graph_measured_bytes = 0;  // the device's free memory drop over instantiations (diagnostic)
  // Bytes of the plan allocated and handed straight back to the driver (the CUDA graph
  // reserve, for the graphs' own memory): the allocator holds the plan's total less these.
  uint64_t returned_bytes = 0;
  int32_t returned_allocations = 0;
};

class GpuExecutor {
 public:
  virtual ~GpuExecutor() = default;

  virtual int32_t first_layer() const = 0;
  virtual int32_t n_layer() const = 0;
  virtual bool has_head() const = 0;
  virtual KvDesc kv() const = 0;
  virtual int32_t max_batch() const = 0;

  // Copies blocks of every device layer's K and V pools, in order (before the next run).
  virtual Status copy_blocks(std::span<const BlockCopy> copies) = 0;
  // Runs a batch; KV rows of its tokens are written into their sequences' blocks.
  // kInvalidArgument (nothing run) for a batch that does not fit this executor.
  virtual Status run(const ExecBatch& b) = 0;

  // Counters since creation (tests, diagnostics); all zero where nothing is counted.
  virtual ExecutorStats stats() const { return {}; }
};

// The checks every run() starts with: layers within [first_layer(), n_layer()], the
// head only when held and after the last layer, x and out given, out_rows within the
// batch, at most `max_seqs` segments in order covering [0, n_tokens) exactly, each block
// table long enough for its positions (and their blocks no more than `blocks_per_seq`)
// and holding block ids in [0, kv().n_blocks).
// kInvalidArgument naming the first problem.
Status check_exec_batch(const GpuExecutor& e, const ExecBatch& b, int32_t max_seqs, int32_t blocks_per_seq);

}  // namespace tandem::gpu
