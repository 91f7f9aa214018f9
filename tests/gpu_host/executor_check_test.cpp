// The executor's contract checked on the host: check_executor_desc refuses a
// description whose slots do not fit their allocations or their tensors' shapes,
// whose layers or buffers are missing or short; check_exec_batch refuses batches a
// device cannot run (layers it does not hold, logits without the head, segments that
// do not cover the batch, block tables too short or naming blocks outside the pool).
// And the emulated GPU's allocator: budgeted host memory that can be written.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gpu/executor.h"
#include "gpu/host_allocator.h"

namespace tandem::gpu {
namespace {

// A 2-layer model, layer 1 and the head on the device, laid out part by part (each part
// 256-aligned) in one allocation per kind, as the memory plan does.
class DescBuilder {
 public:
  DescBuilder() {
    ExecModel& m = d_.model;
    m.n_layer = 2;
    m.n_embd = 32;
    m.n_ff = 64;
    m.n_head = 4;
    m.n_head_kv = 2;
    m.head_dim = 8;
    m.n_vocab = 16;
    m.n_rot = 8;
    d_.first_layer = 1;
    d_.has_head = true;
    d_.kv = KvDesc{DType::kF16, 6, 4};
    d_.act.max_batch = 8;
    d_.act.logit_rows = 2;
    d_.act.max_seqs = 3;
    d_.act.blocks_per_seq = 5;
    host_.resize(1 << 16);

    const int32_t w = begin("blk.1 weights");
    LayerDesc l;
    l.layer = 1;
    l.attn_norm = weight(w, DType::kF32, 32, 1);
    l.wq = weight(w, DType::kQ8_0, 32, 32);
    l.wk = weight(w, DType::kQ8_0, 32, 16);
    l.wv = weight(w, DType::kQ8_0, 32, 16);
    l.wo = weight(w, DType::kQ8_0, 32, 32);
    l.ffn_norm = weight(w, DType::kF32, 32, 1);
    l.w_gate = weight(w, DType::kF16, 32, 64);
    l.w_up = weight(w, DType::kF16, 32, 64);
    l.w_down = weight(w, DType::kF16, 64, 32);
    const int32_t kv = begin("blk.1 KV cache");
    const uint64_t pool = 6 * 2 * 4 * 8 * 2;  // blocks * KV heads * tokens * head_dim * f16
    l.k_pool = slot(kv, pool);
    l.v_pool = slot(kv, pool);
    d_.layers.push_back(l);
    const int32_t h = begin("output head");
    d_.output_norm = weight(h, DType::kF32, 32, 1);
    d_.output = weight(h, DType::kQ8_0, 32, 16);
    const int32_t a = begin("activations");
    ActivationSlots& s = d_.act;
    const auto rows = [&](uint64_t width) { return slot(a, 8 * width * 4); };
    s.x = rows(32);
    s.x_norm = rows(32);
    s.q = rows(32);
    s.k = rows(16);
    s.v = rows(16);
    s.attn_out = rows(32);
    s.ffn_gate = rows(64);
    s.ffn_up = rows(64);
    s.proj_out = rows(32);
    s.positions = slot(a, 8 * 4);
    s.table_start = slot(a, 8 * 4);
    s.n_ctx = slot(a, 8 * 4);
    s.block_tables = slot(a, 3 * 5 * 4);
    s.segments = slot(a, 3 * 3 * 4);
    s.logits = slot(a, 2 * 16 * 4);
  }
  ExecutorDesc& desc() { return d_; }

 private:
  int32_t begin(const std::string& name) {
    d_.allocations.push_back(AllocationDesc{name, 0});
    return static_cast<int32_t>(d_.allocations.size() - 1);
  }
  DeviceSlot slot(int32_t alloc, uint64_t bytes) {
    AllocationDesc& a = d_.allocations[static_cast<size_t>(alloc)];
    const DeviceSlot s{alloc, a.bytes, bytes};
    a.bytes += align_up(bytes);
    return s;
  }
  WeightUpload weight(int32_t alloc, DType t, int64_t cols, int64_t rows) {
    const uint64_t bytes = *row_bytes(t, static_cast<uint64_t>(cols)) * static_cast<uint64_t>(rows);
    return WeightUpload{host_.data(), t, cols, rows, slot(alloc, bytes)};
  }

  ExecutorDesc d_;
  std::vector<std::byte> host_;  // stands in for every tensor's bytes
};

void expect_refused(const ExecutorDesc& d, const std::string& part) {
  const Status st = check_executor_desc(d);
  ASSERT_FALSE(st.is_ok()) << "expected a refusal naming: " << part;
  EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
  EXPECT_NE(st.error().message().find(part), std::string::npos) << st.error().message();
}

TEST(ExecutorDesc, AWellFormedDescriptionPasses) {
  DescBuilder b;
  const Status st = check_executor_desc(b.desc());
  EXPECT_TRUE(st.is_ok()) << st.error().message();
}

TEST(ExecutorDesc, SlotsMustFitTheirAllocationsAndTensors) {
  {
    DescBuilder b;
    b.desc().layers[0].wk.slot.offset = b.desc().allocations[0].bytes - 16;
    expect_refused(b.desc(), "blk.1.attn_k at +");
  }
  {
    DescBuilder b;
    b.desc().layers[0].w_up.slot.bytes -= 1;
    expect_refused(b.desc(), "blk.1.ffn_up has a slot of");
  }
  {
    DescBuilder b;
    b.desc().output.slot.alloc = 9;
    expect_refused(b.desc(), "output is in allocation 9 of 4");
  }
  {
    DescBuilder b;
    b.desc().layers[0].wq.rows = 16;
    expect_refused(b.desc(), "blk.1.attn_q is [16, 32], expected [32, 32]");
  }
  {
    DescBuilder b;
    b.desc().layers[0].ffn_norm.type = DType::kF16;
    expect_refused(b.desc(), "blk.1.ffn_norm is f16, expected f32");
  }
  {
    DescBuilder b;
    b.desc().layers[0].k_pool.bytes /= 2;
    expect_refused(b.desc(), "blk.1.K pool has a slot of");
  }
}

TEST(ExecutorDesc, LayersHeadBuffersAndKvMustBeThere) {
  {
    DescBuilder b;
    b.desc().layers[0].w_down = WeightUpload{};
    expect_refused(b.desc(), "blk.1.ffn_down is missing");
  }
  {
    DescBuilder b;
    b.desc().first_layer = 0;
    expect_refused(b.desc(), "1 layers described for layers [0, 2)");
  }
  {
    DescBuilder b;
    b.desc().layers[0].layer = 0;
    expect_refused(b.desc(), "layer description 0 is of layer 0, expected 1");
  }
  {
    DescBuilder b;
    b.desc().act.max_batch = 9;  // the buffers hold 8 rows
    expect_refused(b.desc(), "activation x has a slot of");
  }
  {
    DescBuilder b;
    b.desc().act.logit_rows = 3;
    expect_refused(b.desc(), "logits has a slot of");
  }
  {
    DescBuilder b;
    b.desc().act.ffn_gate = DeviceSlot{};
    expect_refused(b.desc(), "activation ffn_gate has no device slot");
  }
  {
    DescBuilder b;
    b.desc().act.n_ctx = DeviceSlot{};
    expect_refused(b.desc(), "n_ctx has no device slot");
  }
  {
    DescBuilder b;
    b.desc().act.table_start.bytes = 7 * 4;
    expect_refused(b.desc(), "table_start has a slot of 28 bytes, needs 32");
  }
  {
    DescBuilder b;
    b.desc().act.blocks_per_seq = 6;
    expect_refused(b.desc(), "block tables has a slot of 60 bytes, needs 72");
  }
  {
    DescBuilder b;
    b.desc().kv.type = DType::kQ4_0;
    expect_refused(b.desc(), "KV cache of 6 blocks of 4 tokens of q4_0");
  }
  {
    DescBuilder b;
    b.desc().first_layer = 2;
    b.desc().layers.clear();
    b.desc().has_head = false;
    expect_refused(b.desc(), "nothing to run");
  }
}

// An executor that only answers the questions check_exec_batch asks.
class ShapeOnly final : public GpuExecutor {
 public:
  int32_t first_layer() const override { return 3; }
  int32_t n_layer() const override { return 5; }
  bool has_head() const override { return head; }
  KvDesc kv() const override { return KvDesc{DType::kF16, 10, 4}; }
  int32_t max_batch() const override { return 8; }
  Status copy_blocks(std::span<const BlockCopy>) override { return Status::ok(); }
  Status run(const ExecBatch& b) override { return check_exec_batch(*this, b, /*max_seqs=*/2, /*blocks_per_seq=*/3); }
  bool head = true;
};

struct BatchCase {
  std::vector<float> x = std::vector<float>(6 * 4);
  std::vector<float> out = std::vector<float>(6 * 100);
  std::vector<int32_t> table_a = {7, 2}, table_b = {0, 1, 9};
  std::vector<BatchSegment> segs;
  std::vector<int64_t> rows = {1, 5};
  ExecBatch b;
  BatchCase() {
    // Sequence A: 2 tokens at positions 5-6 (blocks 0-1 of its table); B: 4 tokens at 8-11.
    segs = {{0, 2, 5, table_a}, {2, 4, 8, table_b}};
    b.first_layer = 3;
    b.x = x.data();
    b.n_tokens = 6;
    b.segments = segs;
    b.logits = true;
    b.out_rows = rows;
    b.out = out.data();
  }
};

void expect_batch_refused(GpuExecutor& e, const ExecBatch& b, const std::string& part) {
  const Status st = e.run(b);
  ASSERT_FALSE(st.is_ok()) << "expected a refusal naming: " << part;
  EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
  EXPECT_NE(st.error().message().find(part), std::string::npos) << st.error().message();
}

TEST(ExecBatch, AValidBatchPasses) {
  ShapeOnly e;
  BatchCase c;
  EXPECT_TRUE(e.run(c.b).is_ok());
  c.b.logits = false;  // the hidden state back
  c.b.n_layers = 1;
  EXPECT_TRUE(e.run(c.b).is_ok());
  // The head alone: no layer, no segments.
  c.b = ExecBatch{};
  c.b.first_layer = 5;
  c.b.n_layers = 0;
  c.b.x = c.x.data();
  c.b.n_tokens = 2;
  c.b.logits = true;
  c.b.out_rows = std::span<const int64_t>(c.rows.data(), 1);
  c.b.out = c.out.data();
  EXPECT_TRUE(e.run(c.b).is_ok());
}

TEST(ExecBatch, LayersAndHeadMustBeOnTheDevice) {
  ShapeOnly e;
  BatchCase c;
  c.b.first_layer = 2;
  expect_batch_refused(e, c.b, "layers [2, 5) are not all on the device (it holds [3, 5))");
  c.b.first_layer = 3;
  c.b.n_layers = 3;
  expect_batch_refused(e, c.b, "layers [3, 6)");
  c.b.n_layers = 1;
  expect_batch_refused(e, c.b, "logits asked for after layer 4, before the last layer 5");
  c.b.n_layers = -1;
  e.head = false;
  expect_batch_refused(e, c.b, "the output head is not on the device");
  e.head = true;
  c.rows[1] = 6;
  expect_batch_refused(e, c.b, "output row 1 is 6, outside [0, 6)");
  c.rows[1] = 5;
  c.b.out = nullptr;
  expect_batch_refused(e, c.b, "out null");
}

TEST(ExecBatch, SegmentsMustCoverTheBatchWithUsableBlockTables) {
  ShapeOnly e;
  {
    BatchCase c;
    c.segs[1].first = 3;
    expect_batch_refused(e, c.b, "segment 1 (rows [3, 7), position 8) does not start at row 2");
  }
  {
    BatchCase c;
    c.b.n_tokens = 7;
    expect_batch_refused(e, c.b, "the segments cover 6 of 7 rows");
  }
  {
    BatchCase c;
    c.segs[0].pos0 = 7;  // positions 7-8 need 3 blocks
    expect_batch_refused(e, c.b, "segment 0: positions up to 8 need 3 blocks, the block table has 2");
  }
  {
    BatchCase c;
    c.segs[1].n = 1;  // three sequences: one more than the device takes
    c.segs.push_back({3, 3, 0, c.table_a});
    c.b.segments = c.segs;
    expect_batch_refused(e, c.b, "3 segments, the device takes batches of at most 2 sequences");
  }
  {
    BatchCase c;
    c.table_b.push_back(3);
    c.segs[1] = {2, 4, 9, c.table_b};  // positions 9-12: 4 blocks, the device holds 3 per sequence
    expect_batch_refused(e, c.b, "need 4 blocks, the block table has 4 (the device holds 3 per sequence)");
  }
  {
    BatchCase c;
    c.table_b[2] = 10;
    expect_batch_refused(e, c.b, "segment 1: block 10 at table index 2 is outside [0, 10)");
  }
}

TEST(HostMemoryAllocator, GivesWritableAlignedMemoryWithinItsBudget) {
  HostMemoryAllocator a(4096, "emulated GPU");
  auto b = a.allocate(1000, "weights");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->charged(), 1024u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % kAllocAlignment, 0u);
  std::memset(b->data(), 0x5a, 1024);  // the whole charged size is usable
  EXPECT_EQ(b->as<unsigned char>()[1023], 0x5a);
  auto c = a.allocate(3073, "KV cache");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kOutOfMemory);
  EXPECT_NE(c.error().message().find("emulated GPU: over the GPU memory budget: KV cache"), std::string::npos)
      << c.error().message();
  auto d = a.allocate(3072, "KV cache");
  ASSERT_TRUE(d);
  EXPECT_EQ(a.used(), 4096u);
  b->reset();
  d->reset();
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.high_water(), 4096u);
}

}  // namespace
}  // namespace tandem::gpu
