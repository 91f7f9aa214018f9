// How the CUDA executor cuts a batch into chunks (gpu/cuda/exec_chunk.h), with no GPU:
// every token of every chunk gets its sequence's position, table and context length as
// the emulated executor derives them; parts of kPrefillMinTokens or more tokens become
// one prefill launch and runs of shorter parts one decode launch; output rows are found
// per chunk and gathered in runs of consecutive rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/cuda/exec_chunk.h"

namespace tandem::gpu {
namespace {

constexpr int32_t kBlockTokens = 4;
constexpr int32_t kBlocksPerSeq = 8;

struct Seq {
  std::vector<int32_t> table;
  int32_t pos0;
  int64_t n;
};

// Segments for sequences laid one after another.
std::vector<BatchSegment> segments_of(const std::vector<Seq>& seqs) {
  std::vector<BatchSegment> v;
  int64_t first = 0;
  for (const Seq& s : seqs) {
    v.push_back(BatchSegment{first, s.n, s.pos0, s.table});
    first += s.n;
  }
  return v;
}

std::vector<Seq> example() {
  return {{{7, 3, 9, 1, 0, 0, 0, 0}, 5, 1},              // decode at position 5
          {{2, 11, 4, 6, 8, 0, 0, 0}, 3, 12},            // a 12-token part from position 3
          {{5, 10, 0, 0, 0, 0, 0, 0}, 0, 2},             // two tokens from position 0
          {{12, 13, 14, 15, 16, 17, 18, 19}, 20, 1}};    // decode at position 20
}

TEST(ExecChunk, OneChunkGivesEachTokenItsSequence) {
  const std::vector<Seq> seqs = example();
  const auto segs = segments_of(seqs);
  ChunkMeta m;
  plan_chunk(segs, 0, 16, kBlockTokens, kBlocksPerSeq, m);
  ASSERT_EQ(m.n_segs, 4);
  EXPECT_EQ(m.segments, (std::vector<int32_t>{0, 1, 5, 1, 12, 3, 13, 2, 0, 15, 1, 20}));
  ASSERT_EQ(m.positions.size(), 16u);
  int64_t t = 0;
  for (size_t s = 0; s < seqs.size(); ++s)
    for (int64_t i = 0; i < seqs[s].n; ++i, ++t) {
      const auto ti = static_cast<size_t>(t);
      EXPECT_EQ(m.positions[ti], seqs[s].pos0 + i) << "token " << t;
      EXPECT_EQ(m.n_ctx[ti], seqs[s].pos0 + i + 1) << "token " << t;
      EXPECT_EQ(m.table_start[ti], static_cast<int32_t>(s) * kBlocksPerSeq) << "token " << t;
      // The blocks the token's positions need are its sequence's.
      for (int32_t b = 0; b <= m.positions[ti] / kBlockTokens; ++b)
        EXPECT_EQ(m.tables[static_cast<size_t>(m.table_start[ti] + b)], seqs[s].table[static_cast<size_t>(b)])
            << "token " << t << " block " << b;
    }
  ASSERT_EQ(m.groups.size(), 3u);
  const AttnGroup& g0 = m.groups[0];
  EXPECT_FALSE(g0.prefill);
  EXPECT_EQ(g0.first, 0);
  EXPECT_EQ(g0.n, 1);
  EXPECT_EQ(g0.max_ctx, 6);
  const AttnGroup& g1 = m.groups[1];
  EXPECT_TRUE(g1.prefill);
  EXPECT_EQ(g1.first, 1);
  EXPECT_EQ(g1.n, 12);
  EXPECT_EQ(g1.seg, 1);
  EXPECT_EQ(g1.pos0, 3);
  const AttnGroup& g2 = m.groups[2];  // the last two parts share one decode launch
  EXPECT_FALSE(g2.prefill);
  EXPECT_EQ(g2.first, 13);
  EXPECT_EQ(g2.n, 3);
  EXPECT_EQ(g2.max_ctx, 21);
}

// Chunks of every size cover the batch: each token appears once, with the position and
// blocks of its sequence; groups tile each chunk's rows in order; a part is prefill iff
// its piece in the chunk has kPrefillMinTokens tokens or more.
TEST(ExecChunk, ChunksOfAnySizeCoverTheBatch) {
  const std::vector<Seq> seqs = example();
  const auto segs = segments_of(seqs);
  const int64_t total = 16;
  for (int64_t cap = 1; cap <= total + 1; ++cap) {
    ChunkMeta m;
    int64_t seen = 0;
    for (int64_t c0 = 0; c0 < total; c0 += cap) {
      const int64_t n = std::min(cap, total - c0);
      plan_chunk(segs, c0, n, kBlockTokens, kBlocksPerSeq, m);
      const std::string what = "cap " + std::to_string(cap) + " chunk at " + std::to_string(c0);
      ASSERT_EQ(m.positions.size(), static_cast<size_t>(n)) << what;
      ASSERT_EQ(m.tables.size(), static_cast<size_t>(m.n_segs) * kBlocksPerSeq) << what;
      ASSERT_EQ(m.segments.size(), static_cast<size_t>(m.n_segs) * 3) << what;
      int32_t next = 0;
      for (const AttnGroup& g : m.groups) {
        EXPECT_EQ(g.first, next) << what;
        next += g.n;
        if (g.prefill) {
          EXPECT_GE(g.n, kPrefillMinTokens) << what;
          EXPECT_EQ(m.segments[static_cast<size_t>(3 * g.seg)], g.first) << what;
          EXPECT_EQ(m.segments[static_cast<size_t>(3 * g.seg + 2)], g.pos0) << what;
        } else {
          int32_t mx = 0;
          for (int32_t r = g.first; r < g.first + g.n; ++r) mx = std::max(mx, m.n_ctx[static_cast<size_t>(r)]);
          EXPECT_EQ(g.max_ctx, mx) << what;
          EXPECT_EQ(g.plan_ctx, mx) << what << ": planned for its own contexts until fix_decode_plan";
        }
      }
      EXPECT_EQ(next, n) << what;
      for (int64_t i = 0; i < n; ++i, ++seen) {
        int64_t row = c0 + i;  // the batch row: find its sequence
        size_t s = 0;
        while (row >= seqs[s].n) row -= seqs[s++].n;
        EXPECT_EQ(m.positions[static_cast<size_t>(i)], seqs[s].pos0 + row) << what << " row " << i;
        const int32_t start = m.table_start[static_cast<size_t>(i)];
        const int32_t seg = start / kBlocksPerSeq;
        ASSERT_LT(seg, m.n_segs) << what;
        EXPECT_EQ(m.segments[static_cast<size_t>(3 * seg + 2)] + (i - m.segments[static_cast<size_t>(3 * seg)]),
                  m.positions[static_cast<size_t>(i)])
            << what << " row " << i << ": its segment's first position and row";
        for (int32_t b = 0; b <= m.positions[static_cast<size_t>(i)] / kBlockTokens; ++b)
          EXPECT_EQ(m.tables[static_cast<size_t>(start + b)], seqs[s].table[static_cast<size_t>(b)]) << what;
      }
    }
    EXPECT_EQ(seen, total) << "cap " << cap;
  }
}

TEST(ExecChunk, OutputRowsPerChunkAndRuns) {
  const std::vector<int64_t> out_rows = {9, 2, 3, 4, 15, 10, 0};
  std::vector<int64_t> rows;
  std::vector<size_t> index;
  chunk_out_rows(out_rows, 8, 8, rows, index);
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 7, 2}));
  EXPECT_EQ(index, (std::vector<size_t>{0, 4, 5}));
  chunk_out_rows(out_rows, 0, 8, rows, index);
  EXPECT_EQ(rows, (std::vector<int64_t>{2, 3, 4, 0}));
  EXPECT_EQ(index, (std::vector<size_t>{1, 2, 3, 6}));
  std::vector<RowRun> runs;
  row_runs(rows, runs);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].src, 2);
  EXPECT_EQ(runs[0].dst, 0);
  EXPECT_EQ(runs[0].len, 3);
  EXPECT_EQ(runs[1].src, 0);
  EXPECT_EQ(runs[1].dst, 3);
  EXPECT_EQ(runs[1].len, 1);
  row_runs(std::vector<int64_t>{}, runs);
  EXPECT_TRUE(runs.empty());
}

}  // namespace
}  // namespace tandem::gpu
