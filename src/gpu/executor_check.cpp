// Checks of an executor's description and of each batch, shared by every executor so a
// bad description or batch is refused the same way on every device.
#include <algorithm>
#include <string>

#include "gpu/executor.h"

namespace tandem::gpu {
namespace {

Error bad_desc() { return Error(Code::kInvalidArgument) << "GPU executor: "; }

// The slot lies inside its allocation and holds at least `need` bytes (exactly `need`
// when `exact`).
Status check_slot(const ExecutorDesc& d, const DeviceSlot& s, const std::string& what, uint64_t need, bool exact) {
  if (!s.present()) return bad_desc() << what << " has no device slot";
  if (s.alloc >= static_cast<int32_t>(d.allocations.size()))
    return bad_desc() << what << " is in allocation " << s.alloc << " of " << d.allocations.size();
  const AllocationDesc& a = d.allocations[static_cast<size_t>(s.alloc)];
  if (s.offset > a.bytes || s.bytes > a.bytes - s.offset)
    return bad_desc() << what << " at +" << s.offset << " (" << s.bytes << " bytes) passes the end of '" << a.name
                      << "' (" << a.bytes << " bytes)";
  if (exact ? s.bytes != need : s.bytes < need)
    return bad_desc() << what << " has a slot of " << s.bytes << " bytes, needs " << need;
  return Status::ok();
}

Status check_weight(const ExecutorDesc& d, const WeightUpload& w, const std::string& what, int64_t cols, int64_t rows,
                    bool required, bool vector) {
  if (!w.present()) {
    if (required) return bad_desc() << what << " is missing";
    if (w.slot.present()) return bad_desc() << what << " has a slot but no host data";
    return Status::ok();
  }
  if (w.cols != cols || w.rows != rows)
    return bad_desc() << what << " is [" << w.rows << ", " << w.cols << "], expected [" << rows << ", " << cols << "]";
  if (vector && w.type != DType::kF32) return bad_desc() << what << " is " << dtype_name(w.type) << ", expected f32";
  const auto rb = row_bytes(w.type, static_cast<uint64_t>(cols));
  if (!rb) return bad_desc() << what << ": rows of " << cols << " cannot be " << dtype_name(w.type);
  return check_slot(d, w.slot, what, *rb * static_cast<uint64_t>(rows), /*exact=*/true);
}

Status check_layer(const ExecutorDesc& d, const LayerDesc& l, uint64_t pool_bytes) {
  const ExecModel& m = d.model;
  const std::string b = "blk." + std::to_string(l.layer) + ".";
  const int64_t e = m.n_embd, q = m.q_dim(), kv = m.kv_dim(), ff = m.n_ff;
  struct W {
    const WeightUpload* w;
    const char* name;
    int64_t cols, rows;
    bool required, vector;
  };
  for (const W& w : {W{&l.attn_norm, "attn_norm", e, 1, true, true}, W{&l.wq, "attn_q", e, q, true, false},
                     W{&l.wk, "attn_k", e, kv, true, false}, W{&l.wv, "attn_v", e, kv, true, false},
                     W{&l.bq, "attn_q.bias", q, 1, false, true}, W{&l.bk, "attn_k.bias", kv, 1, false, true},
                     W{&l.bv, "attn_v.bias", kv, 1, false, true}, W{&l.wo, "attn_output", q, e, true, false},
                     W{&l.ffn_norm, "ffn_norm", e, 1, true, true}, W{&l.w_gate, "ffn_gate", e, ff, true, false},
                     W{&l.w_up, "ffn_up", e, ff, true, false}, W{&l.w_down, "ffn_down", ff, e, true, false}})
    TANDEM_TRY(check_weight(d, *w.w, b + w.name, w.cols, w.rows, w.required, w.vector));
  TANDEM_TRY(check_slot(d, l.k_pool, b + "K pool", pool_bytes, true));
  TANDEM_TRY(check_slot(d, l.v_pool, b + "V pool", pool_bytes, true));
  return Status::ok();
}

}  // namespace

Status check_executor_desc(const ExecutorDesc& d) {
  const ExecModel& m = d.model;
  if (m.n_layer < 1 || m.n_embd < 1 || m.n_ff < 1 || m.n_head < 1 || m.n_head_kv < 1 || m.head_dim < 2 ||
      m.n_vocab < 1 || m.n_head % m.n_head_kv != 0 || m.n_rot < 0 || m.n_rot > m.head_dim || m.n_rot % 2 != 0)
    return bad_desc() << "bad model shape: " << m.n_layer << " layers, n_embd " << m.n_embd << ", n_ff " << m.n_ff
                      << ", heads " << m.n_head << "/" << m.n_head_kv << ", head_dim " << m.head_dim << ", n_rot "
                      << m.n_rot << ", n_vocab " << m.n_vocab;
  if (d.first_layer < 0 || d.first_layer > m.n_layer)
    return bad_desc() << "first layer " << d.first_layer << " is outside [0, " << m.n_layer << "]";
  if (d.layers.size() != static_cast<size_t>(m.n_layer - d.first_layer))
    return bad_desc() << d.layers.size() << " layers described for layers [" << d.first_layer << ", " << m.n_layer << ")";
  if (d.layers.empty() && !d.has_head) return bad_desc() << "neither layers nor the output head: nothing to run";
  const KvDesc& kv = d.kv;
  const auto kv_row = row_bytes(kv.type, static_cast<uint64_t>(m.head_dim));
  if ((kv.type != DType::kF32 && kv.type != DType::kF16 && kv.type != DType::kBF16 && kv.type != DType::kQ8_0) ||
      !kv_row || kv.n_blocks < 1 || kv.block_tokens < 1)
    return bad_desc() << "KV cache of " << kv.n_blocks << " blocks of " << kv.block_tokens << " tokens of "
                      << dtype_name(kv.type) << " rows of " << m.head_dim;
  const uint64_t pool = static_cast<uint64_t>(kv.n_blocks) * static_cast<uint64_t>(m.n_head_kv) *
                        static_cast<uint64_t>(kv.block_tokens) * *kv_row;
  for (size_t i = 0; i < d.layers.size(); ++i) {
    if (d.layers[i].layer != d.first_layer + static_cast<int32_t>(i))
      return bad_desc() << "layer description " << i << " is of layer " << d.layers[i].layer << ", expected "
                        << d.first_layer + static_cast<int32_t>(i);
    TANDEM_TRY(check_layer(d, d.layers[i], pool));
  }
  TANDEM_TRY(check_weight(d, d.rope_freqs, "rope_freqs", m.n_rot / 2, 1, false, true));
  if (d.has_head) {
    TANDEM_TRY(check_weight(d, d.output_norm, "output_norm", m.n_embd, 1, true, true));
    TANDEM_TRY(check_weight(d, d.output, "output", m.n_embd, m.n_vocab, true, false));
  }
  const ActivationSlots& a = d.act;
  if (a.max_batch < 1 || (d.has_head && a.logit_rows < 1) || a.max_seqs < 1 || a.blocks_per_seq < 1)
    return bad_desc() << "activations for batches of " << a.max_batch << " tokens, " << a.logit_rows << " logit rows, "
                      << a.max_seqs << " sequences of " << a.blocks_per_seq << " blocks";
  const auto f32 = [&](const DeviceSlot& s, const char* what, int64_t rows, int64_t width) {
    return check_slot(d, s, what, static_cast<uint64_t>(rows) * static_cast<uint64_t>(width) * 4, false);
  };
  const int64_t b = a.max_batch;
  TANDEM_TRY(f32(a.x, "activation x", b, m.n_embd));
  TANDEM_TRY(f32(a.x_norm, "activation x_norm", b, m.n_embd));
  TANDEM_TRY(f32(a.positions, "activation positions", b, 1));
  if (!d.layers.empty()) {
    TANDEM_TRY(f32(a.table_start, "table_start", b, 1));  // i32, as wide as f32
    TANDEM_TRY(f32(a.n_ctx, "n_ctx", b, 1));
    TANDEM_TRY(f32(a.block_tables, "block tables", a.max_seqs, a.blocks_per_seq));
    TANDEM_TRY(f32(a.segments, "segments", a.max_seqs, 3));
    TANDEM_TRY(f32(a.q, "activation q", b, m.q_dim()));
    TANDEM_TRY(f32(a.k, "activation k", b, m.kv_dim()));
    TANDEM_TRY(f32(a.v, "activation v", b, m.kv_dim()));
    TANDEM_TRY(f32(a.attn_out, "activation attn_out", b, m.q_dim()));
    TANDEM_TRY(f32(a.ffn_gate, "activation ffn_gate", b, m.n_ff));
    TANDEM_TRY(f32(a.ffn_up, "activation ffn_up", b, m.n_ff));
    TANDEM_TRY(f32(a.proj_out, "activation proj_out", b, m.n_embd));
  }
  if (d.has_head) TANDEM_TRY(f32(a.logits, "logits", a.logit_rows, m.n_vocab));
  for (const auto& [s, what] : {std::pair{&d.workspace_weights, "dequant workspace (weights)"},
                                {&d.workspace_input, "dequant workspace (input)"},
                                {&d.cublas_workspace, "cuBLAS workspace"}, {&d.attention_scratch, "attention scratch"},
                                {&d.graph_reserve, "CUDA graph reserve"}})
    if (s->present()) TANDEM_TRY(check_slot(d, *s, what, s->bytes, true));
  return Status::ok();
}

Status check_exec_batch(const GpuExecutor& e, const ExecBatch& b, int32_t max_seqs, int32_t blocks_per_seq) {
  const auto bad = [] { return Error(Code::kInvalidArgument) << "GPU batch: "; };
  const int32_t last = b.n_layers < 0 ? e.n_layer() : b.first_layer + b.n_layers;
  if (b.first_layer < e.first_layer() || b.first_layer > e.n_layer() || last > e.n_layer())
    return bad() << "layers [" << b.first_layer << ", " << last << ") are not all on the device (it holds ["
                 << e.first_layer() << ", " << e.n_layer() << "))";
  if (b.n_tokens < 0 || (b.n_tokens > 0 && b.x == nullptr) || b.out == nullptr)
    return bad() << b.n_tokens << " tokens, x " << (b.x ? "given" : "null") << ", out " << (b.out ? "given" : "null");
  if (b.logits) {
    if (!e.has_head()) return bad() << "logits asked for, but the output head is not on the device";
    if (last != e.n_layer())
      return bad() << "logits asked for after layer " << last << ", before the last layer " << e.n_layer();
    for (size_t i = 0; i < b.out_rows.size(); ++i)
      if (b.out_rows[i] < 0 || b.out_rows[i] >= b.n_tokens)
        return bad() << "output row " << i << " is " << b.out_rows[i] << ", outside [0, " << b.n_tokens << ")";
  }
  if (last == b.first_layer) return Status::ok();  // no layer: no attention, segments unused
  const KvDesc kv = e.kv();
  if (b.segments.size() > static_cast<size_t>(max_seqs))
    return bad() << b.segments.size() << " segments, the device takes batches of at most " << max_seqs << " sequences";
  int64_t next = 0;
  for (size_t i = 0; i < b.segments.size(); ++i) {
    const BatchSegment& s = b.segments[i];
    if (s.first != next || s.n < 1 || s.pos0 < 0)
      return bad() << "segment " << i << " (rows [" << s.first << ", " << s.first + s.n << "), position " << s.pos0
                   << ") does not start at row " << next;
    next += s.n;
    const int64_t blocks = (s.pos0 + s.n + kv.block_tokens - 1) / kv.block_tokens;
    if (static_cast<int64_t>(s.block_table.size()) < blocks || blocks > blocks_per_seq)
      return bad() << "segment " << i << ": positions up to " << s.pos0 + s.n - 1 << " need " << blocks
                   << " blocks, the block table has " << s.block_table.size() << " (the device holds "
                   << blocks_per_seq << " per sequence)";
    for (int64_t k = 0; k < blocks; ++k) {
      const int32_t id = s.block_table[static_cast<size_t>(k)];
      if (id < 0 || id >= kv.n_blocks)
        return bad() << "segment " << i << ": block " << id << " at table index " << k << " is outside [0, "
                     << kv.n_blocks << ")";
    }
  }
  if (next != b.n_tokens) return bad() << "the segments cover " << next << " of " << b.n_tokens << " rows";
  return Status::ok();
}

}  // namespace tandem::gpu
