// Which chunks the CUDA executor replays as CUDA graphs and how their memory is counted
// (gpu/cuda/graph_cache.h), with no GPU: only decode chunks of at most kGemvMaxBatch
// rows qualify; their decode plan is made for the context limit (exec_chunk.h's
// fix_decode_plan) while other chunks keep their own longest context; a key runs
// directly once, is captured the second time and replayed after; keys differ by token
// count and layer range; a graph whose estimate does not fit what is left of the reserve
// is refused for good, and the reserve's account is the sum of the cached estimates.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/cuda/graph_cache.h"

namespace tandem::gpu {
namespace {

constexpr int32_t kBlockTokens = 16;
constexpr int32_t kBlocksPerSeq = 8;  // a context limit of 128 keys

// n sequences of `len` tokens each, sequence i at position 10 * i + 3.
struct Batch {
  std::vector<std::vector<int32_t>> tables;
  std::vector<BatchSegment> segs;
  Batch(int32_t n, int64_t len) : tables(static_cast<size_t>(n), std::vector<int32_t>(kBlocksPerSeq)) {
    for (int32_t i = 0; i < n; ++i) {
      for (int32_t b = 0; b < kBlocksPerSeq; ++b) tables[static_cast<size_t>(i)][static_cast<size_t>(b)] = i * kBlocksPerSeq + b;
      segs.push_back(BatchSegment{i * len, len, 10 * i + 3, tables[static_cast<size_t>(i)]});
    }
  }
  int64_t rows() const { return static_cast<int64_t>(segs.size()) * segs.front().n; }
};

ChunkMeta planned(const Batch& b) {
  ChunkMeta m;
  plan_chunk(b.segs, 0, b.rows(), kBlockTokens, kBlocksPerSeq, m);
  return m;
}

TEST(GraphChunk, OnlyDecodeChunksOfAtMostTheGemvBatchQualify) {
  for (int32_t n = 1; n <= kGemvMaxBatch; ++n) {
    const ChunkMeta m = planned(Batch(n, 1));
    EXPECT_TRUE(is_graph_chunk(m, n, true)) << n << " decode tokens";
    EXPECT_FALSE(is_graph_chunk(m, n, false)) << n << " tokens, no layers (the head alone)";
  }
  EXPECT_FALSE(is_graph_chunk(planned(Batch(kGemvMaxBatch + 1, 1)), kGemvMaxBatch + 1, true)) << "past the GEMV batch";
  EXPECT_FALSE(is_graph_chunk(planned(Batch(1, 3)), 3, true)) << "a 3-token part of a prompt";
  EXPECT_FALSE(is_graph_chunk(planned(Batch(2, 2)), 4, true)) << "two 2-token parts";
  // One prompt token next to decode tokens is a decode token too.
  EXPECT_TRUE(is_graph_chunk(planned(Batch(3, 1)), 3, true));
}

TEST(GraphChunk, SmallChunksPlanTheirDecodeForTheContextLimit) {
  const int32_t limit = kBlocksPerSeq * kBlockTokens;
  for (const auto& [n, len] : {std::pair{1, int64_t{1}}, {4, 1}, {8, 1}, {1, 5}, {2, 4}}) {
    ChunkMeta m = planned(Batch(n, len));
    ASSERT_EQ(m.groups.size(), 1u) << "one decode launch: no part reaches kPrefillMinTokens";
    const int32_t longest = m.groups[0].max_ctx;
    EXPECT_EQ(m.groups[0].plan_ctx, longest) << "planned for its own longest context first";
    fix_decode_plan(m, n * len, limit);
    EXPECT_EQ(m.groups[0].plan_ctx, limit) << n << " x " << len;
    EXPECT_EQ(m.groups[0].max_ctx, longest) << "the longest context itself is kept";
  }
  // Past kGemvMaxBatch rows the plan follows the step's own contexts.
  ChunkMeta big = planned(Batch(kGemvMaxBatch + 1, 1));
  fix_decode_plan(big, kGemvMaxBatch + 1, limit);
  ASSERT_EQ(big.groups.size(), 1u);
  EXPECT_EQ(big.groups[0].plan_ctx, big.groups[0].max_ctx);
  // A prefill part's group has no decode plan to fix.
  ChunkMeta prefill = planned(Batch(1, kPrefillMinTokens));
  fix_decode_plan(prefill, kPrefillMinTokens, limit);
  ASSERT_EQ(prefill.groups.size(), 1u);
  EXPECT_TRUE(prefill.groups[0].prefill);
  EXPECT_EQ(prefill.groups[0].plan_ctx, 0);
}

// A stand-in for the RAII graph handle: move-only, remembers which capture it was.
struct FakeExec {
  int id = 0;
  FakeExec() = default;
  explicit FakeExec(int i) : id(i) {}
  FakeExec(FakeExec&& o) noexcept : id(o.id) { o.id = 0; }
  FakeExec& operator=(FakeExec&& o) noexcept {
    id = o.id;
    o.id = 0;
    return *this;
  }
  FakeExec(const FakeExec&) = delete;
  FakeExec& operator=(const FakeExec&) = delete;
};

TEST(GraphCache, DirectOnceThenCaptureThenReplay) {
  GraphCache<FakeExec> c(kCudaGraphReserveBytes);
  const GraphKey k{1, 0, 32};
  EXPECT_EQ(c.next(k), GraphStep::kDirect) << "the first chunk warms up";
  EXPECT_EQ(c.next(k), GraphStep::kCapture);
  ASSERT_TRUE(c.fits(k, 500));
  c.insert(k, FakeExec(7), 500);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.next(k), GraphStep::kReplay);
    EXPECT_EQ(c.exec(k).id, 7);
  }
  EXPECT_EQ(c.cached(), 1);
  EXPECT_EQ(c.used(), kCudaGraphBaseBytes + 500 * kCudaGraphNodeBytes);
}

TEST(GraphCache, KeysDifferByTokensAndLayers) {
  GraphCache<FakeExec> c(kCudaGraphReserveBytes);
  const GraphKey keys[] = {{1, 0, 32}, {2, 0, 32}, {1, 1, 32}, {1, 0, 31}};
  int id = 0;
  for (const GraphKey& k : keys) {
    EXPECT_EQ(c.next(k), GraphStep::kDirect) << "a new key: " << k.n_tokens << " tokens, layers [" << k.first_layer
                                             << ", " << k.end_layer << ")";
    EXPECT_EQ(c.next(k), GraphStep::kCapture);
    ASSERT_TRUE(c.fits(k, 10));
    c.insert(k, FakeExec(++id), 10);
  }
  id = 0;
  for (const GraphKey& k : keys) {
    EXPECT_EQ(c.next(k), GraphStep::kReplay);
    EXPECT_EQ(c.exec(k).id, ++id) << "each key keeps its own graph";
  }
  EXPECT_EQ(c.cached(), 4);
  EXPECT_EQ(c.used(), 4 * graph_bytes_estimate(10));
}

TEST(GraphCache, GraphsThatDoNotFitTheReserveAreRefusedForGood) {
  // Room for exactly two graphs of 300 nodes.
  const uint64_t reserve = 2 * graph_bytes_estimate(300);
  GraphCache<FakeExec> c(reserve);
  for (int32_t n = 1; n <= 2; ++n) {
    const GraphKey k{n, 0, 32};
    c.next(k);
    ASSERT_EQ(c.next(k), GraphStep::kCapture);
    ASSERT_TRUE(c.fits(k, 300)) << n;
    c.insert(k, FakeExec(n), 300);
  }
  EXPECT_EQ(c.used(), reserve);
  const GraphKey third{3, 0, 32};
  c.next(third);
  ASSERT_EQ(c.next(third), GraphStep::kCapture);
  EXPECT_FALSE(c.fits(third, 1)) << "the reserve is spent";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.next(third), GraphStep::kDirect) << "refused for good";
  EXPECT_EQ(c.cached(), 2);
  EXPECT_EQ(c.used(), reserve);

  // A graph larger than a whole reserve never fits; smaller ones still do after it.
  GraphCache<FakeExec> d(graph_bytes_estimate(100));
  const GraphKey big{4, 0, 32}, small{1, 0, 32};
  d.next(big);
  d.next(big);
  EXPECT_FALSE(d.fits(big, 101));
  EXPECT_EQ(d.next(big), GraphStep::kDirect);
  d.next(small);
  d.next(small);
  EXPECT_TRUE(d.fits(small, 100));

  // No reserve: nothing fits.
  GraphCache<FakeExec> none(0);
  none.next(small);
  none.next(small);
  EXPECT_FALSE(none.fits(small, 0));
}

TEST(GraphCache, AFailedCaptureLeavesItsKeyDirect) {
  GraphCache<FakeExec> c(kCudaGraphReserveBytes);
  const GraphKey k{2, 3, 5};
  c.next(k);
  ASSERT_EQ(c.next(k), GraphStep::kCapture);
  c.refuse(k);
  EXPECT_EQ(c.next(k), GraphStep::kDirect);
  EXPECT_EQ(c.cached(), 0);
  EXPECT_EQ(c.used(), 0u);
}

TEST(GraphCache, TheReserveHoldsAGraphOfAnEightBillionParameterDecodeStep) {
  // 32 layers of 16 to 20 kernels (gpu/reserves.h): one such graph fits in the plan's
  // reserve, as does a graph of about 50 layers.
  EXPECT_LE(graph_bytes_estimate(32 * 20), kCudaGraphReserveBytes);
  EXPECT_LE(graph_bytes_estimate(50 * 20), kCudaGraphReserveBytes);
  EXPECT_GT(graph_bytes_estimate(64 * 20), kCudaGraphReserveBytes);
  EXPECT_EQ(graph_bytes_estimate(0), kCudaGraphBaseBytes);
}

}  // namespace
}  // namespace tandem::gpu
