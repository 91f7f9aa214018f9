// The chunk inputs' region (gpu/cuda/chunk_inputs.h), with no GPU: the layout the
// memory plan makes is found with its offsets, a slot out of its place is refused naming
// it, and one copy of copy_bytes(n) bytes from a staging mirror puts every input of a
// chunk (positions, table_start, n_ctx, segments, block tables, x rows) where the
// kernels read them, for chunks of every size, whatever the mirror held before.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gpu/cuda/chunk_inputs.h"
#include "gpu/cuda/exec_chunk.h"

namespace tandem::gpu {
namespace {

constexpr int32_t kMaxBatch = 8;
constexpr int32_t kSeqs = 3;
constexpr int32_t kBlocksPerSeq = 5;
constexpr int32_t kBlockTokens = 4;
constexpr int32_t kEmbd = 12;

// Activation slots as the plan lays them out: the inputs first (after one unrelated
// allocation, and at an offset into their own), then the other buffers.
ExecutorDesc planned_desc() {
  ExecutorDesc d;
  d.model.n_embd = kEmbd;
  d.act.max_batch = kMaxBatch;
  d.act.max_seqs = kSeqs;
  d.act.blocks_per_seq = kBlocksPerSeq;
  d.allocations = {{"weights", 4096}, {"activations", 0}};
  uint64_t at = 512;  // something else first
  const auto slot = [&](uint64_t bytes) {
    const DeviceSlot s{1, at, bytes};
    at += align_up(bytes);
    return s;
  };
  ActivationSlots& a = d.act;
  a.positions = slot(kMaxBatch * 4);
  a.table_start = slot(kMaxBatch * 4);
  a.n_ctx = slot(kMaxBatch * 4);
  a.segments = slot(kSeqs * 3 * 4);
  a.block_tables = slot(kSeqs * kBlocksPerSeq * 4);
  a.x = slot(kMaxBatch * kEmbd * 4);
  a.x_norm = slot(kMaxBatch * kEmbd * 4);
  d.allocations[1].bytes = at;
  return d;
}

TEST(ChunkInputs, ThePlansLayoutIsOneRegionWithXLast) {
  const ExecutorDesc d = planned_desc();
  auto ci = chunk_inputs_layout(d);
  ASSERT_TRUE(ci) << ci.error().message();
  EXPECT_EQ(ci->alloc, 1);
  EXPECT_EQ(ci->base, 512u);
  EXPECT_EQ(ci->positions, 0u);
  EXPECT_EQ(ci->table_start, 256u);
  EXPECT_EQ(ci->n_ctx, 512u);
  EXPECT_EQ(ci->segments, 768u);
  EXPECT_EQ(ci->block_tables, 1024u);
  EXPECT_EQ(ci->x, 1280u);
  EXPECT_EQ(ci->x_row_bytes, kEmbd * 4u);
  EXPECT_EQ(ci->bytes, 1280u + kMaxBatch * kEmbd * 4);
  EXPECT_EQ(ci->copy_bytes(1), 1280u + kEmbd * 4);
  EXPECT_EQ(ci->copy_bytes(kMaxBatch), ci->bytes);
}

void expect_refused(const ExecutorDesc& d, const std::string& part) {
  auto ci = chunk_inputs_layout(d);
  ASSERT_FALSE(ci) << "expected a refusal naming: " << part;
  EXPECT_EQ(ci.error().code(), Code::kInvalidArgument);
  EXPECT_NE(ci.error().message().find(part), std::string::npos) << ci.error().message();
}

TEST(ChunkInputs, SlotsOutOfTheirPlaceAreRefused) {
  {
    ExecutorDesc d = planned_desc();
    std::swap(d.act.segments, d.act.block_tables);
    expect_refused(d, "segments is at +1536 of allocation 1, expected +1280 of allocation 1");
  }
  {
    ExecutorDesc d = planned_desc();
    d.act.x.offset += 256;  // a gap: the copy would write whatever lies in it
    expect_refused(d, "x is at +2048 of allocation 1, expected +1792");
  }
  {
    ExecutorDesc d = planned_desc();
    d.act.n_ctx.alloc = 0;
    expect_refused(d, "n_ctx is at +1024 of allocation 0");
  }
  {
    ExecutorDesc d = planned_desc();
    d.act.table_start = DeviceSlot{};
    expect_refused(d, "table_start is absent");
  }
}

// Chunks of 1..kMaxBatch rows of a batch of three sequences, staged into one mirror
// (never cleared: earlier chunks' bytes stay in it) and copied with one memcpy of
// copy_bytes(n) into a "device" region that held other bytes: every input the kernels
// read is the chunk's.
TEST(ChunkInputs, OneCopyMovesEveryInputOfAChunk) {
  const ExecutorDesc d = planned_desc();
  auto ci = chunk_inputs_layout(d);
  ASSERT_TRUE(ci) << ci.error().message();
  std::vector<std::byte> mirror(ci->bytes, std::byte{0xee}), device(ci->bytes);
  const std::vector<int32_t> ta = {4, 1, 0, 0, 0}, tb = {2, 9, 3, 7, 0}, tc = {5, 6, 8, 10, 11};
  std::vector<float> x(static_cast<size_t>(kMaxBatch) * kEmbd);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * static_cast<float>(i) - 3.f;
  ChunkMeta m;
  for (int64_t n = 1; n <= kMaxBatch; ++n) {
    SCOPED_TRACE("chunk of " + std::to_string(n) + " rows");
    std::fill(device.begin(), device.end(), std::byte{0x5a});
    // Sequence a: one token at position 3; b: n - 2 (or fewer) tokens from 6; c: the rest.
    std::vector<BatchSegment> segs = {{0, 1, 3, ta}};
    if (n >= 2) segs.push_back({1, n == 2 ? 1 : n - 2, 6, tb});
    if (n >= 3) segs.push_back({n - 1, 1, 17, tc});
    plan_chunk(segs, 0, n, kBlockTokens, kBlocksPerSeq, m);
    const auto put = [&](uint64_t off, const std::vector<int32_t>& v) {
      std::memcpy(mirror.data() + off, v.data(), v.size() * 4);
    };
    put(ci->positions, m.positions);
    put(ci->table_start, m.table_start);
    put(ci->n_ctx, m.n_ctx);
    put(ci->segments, m.segments);
    put(ci->block_tables, m.tables);
    std::memcpy(mirror.data() + ci->x, x.data(), static_cast<size_t>(n) * kEmbd * 4);
    std::memcpy(device.data(), mirror.data(), ci->copy_bytes(n));  // the one cudaMemcpyAsync

    const auto ints = [&](uint64_t off, size_t count) {
      std::vector<int32_t> v(count);
      std::memcpy(v.data(), device.data() + off, count * 4);
      return v;
    };
    EXPECT_EQ(ints(ci->positions, static_cast<size_t>(n)), m.positions);
    EXPECT_EQ(ints(ci->table_start, static_cast<size_t>(n)), m.table_start);
    EXPECT_EQ(ints(ci->n_ctx, static_cast<size_t>(n)), m.n_ctx);
    EXPECT_EQ(ints(ci->segments, static_cast<size_t>(m.n_segs) * 3), m.segments);
    EXPECT_EQ(ints(ci->block_tables, static_cast<size_t>(m.n_segs) * kBlocksPerSeq), m.tables);
    EXPECT_EQ(std::memcmp(device.data() + ci->x, x.data(), static_cast<size_t>(n) * kEmbd * 4), 0);
    // Past the chunk's rows, x is not copied (the device's bytes stay).
    if (n < kMaxBatch) {
      EXPECT_EQ(device[ci->copy_bytes(n)], std::byte{0x5a});
    }
  }
}

}  // namespace
}  // namespace tandem::gpu
