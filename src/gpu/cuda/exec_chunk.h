// How the CUDA executor (cuda_executor.h) cuts a batch into chunks of max_batch rows,
// what each chunk sends to the device beside x, and which attention launches it makes.
// Plain C++ (no CUDA header), so tests/gpu_host checks it with no GPU.
//
// A chunk is rows [c0, c0 + n) of ExecBatch::x. Every segment (one sequence's tokens)
// that overlaps it contributes its part, renumbered from the chunk's first row, with
// the position of that part's first token: exactly as the emulated executor
// (engine/emulated_gpu.cpp) slices them. Per chunk the device gets, in its slots:
//   positions   i32 [n]                        token t's position in its sequence
//   block tables i32 [n_segs, blocks_per_seq]  each part's table (entries past its need: 0)
//   segments    i32 [n_segs, 3]                (first row, tokens, first position)
//   table_start i32 [n], n_ctx i32 [n]         token t's table at block_tables +
//                                              table_start[t], attending to n_ctx[t] keys
// The attention of a chunk runs as groups: a part of at least kPrefillMinTokens tokens
// is one attention_prefill launch (keys streamed once per tile of queries); runs of
// consecutive shorter parts (decode tokens of many sequences) are one attention_decode
// launch each, every token with its own table and length. A decode launch's split-K
// plan is made for its longest context, except in chunks of at most kGemvMaxBatch rows
// (one decode launch: no part reaches kPrefillMinTokens), whose plan is made for the
// context limit (fix_decode_plan): the same launches every step, which a CUDA graph
// replays, and the same results whether it does or not.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "gpu/executor.h"
#include "gpu/reserves.h"

namespace tandem::gpu {

// Parts of a chunk with more tokens than a GEMV batch run the causal prefill kernel.
inline constexpr int32_t kPrefillMinTokens = kGemvMaxBatch + 1;

struct AttnGroup {
  bool prefill = false;  // one part through attention_prefill; else a decode run
  int32_t first = 0;     // chunk rows [first, first + n)
  int32_t n = 0;
  int32_t seg = 0;       // prefill: the part's row in the tables (its n_ctx0 is pos0 + 1)
  int32_t pos0 = 0;      // prefill: position of row `first`
  int32_t max_ctx = 0;   // decode: the largest n_ctx of the run's tokens
  int32_t plan_ctx = 0;  // decode: the context its split plan is made for (>= max_ctx)
};

// The host side of one chunk (reused between chunks: vectors keep their capacity).
struct ChunkMeta {
  int32_t n_segs = 0;
  std::vector<int32_t> positions;    // [n]
  std::vector<int32_t> table_start;  // [n]
  std::vector<int32_t> n_ctx;        // [n]
  std::vector<int32_t> tables;       // [n_segs * blocks_per_seq]
  std::vector<int32_t> segments;     // [n_segs * 3]
  std::vector<AttnGroup> groups;     // in row order, covering [0, n)
};

// Fills `m` for rows [c0, c0 + n) of a batch whose segments passed check_exec_batch
// (in order, covering the batch; tables long enough; at most blocks_per_seq blocks).
inline void plan_chunk(std::span<const BatchSegment> segs, int64_t c0, int64_t n, int32_t block_tokens,
                       int32_t blocks_per_seq, ChunkMeta& m) {
  m.n_segs = 0;
  m.positions.clear();
  m.table_start.clear();
  m.n_ctx.clear();
  m.tables.clear();
  m.segments.clear();
  m.groups.clear();
  for (const BatchSegment& s : segs) {
    const int64_t first = std::max(c0, s.first);
    const int64_t end = std::min(c0 + n, s.first + s.n);
    if (first >= end) continue;
    const auto len = static_cast<int32_t>(end - first);
    const int32_t pos0 = s.pos0 + static_cast<int32_t>(first - s.first);
    const int32_t seg = m.n_segs++;
    const int64_t blocks = (int64_t{pos0} + len + block_tokens - 1) / block_tokens;
    m.tables.resize(m.tables.size() + static_cast<size_t>(blocks_per_seq), 0);
    std::copy_n(s.block_table.data(), blocks, m.tables.end() - blocks_per_seq);
    const auto row = static_cast<int32_t>(first - c0);
    m.segments.insert(m.segments.end(), {row, len, pos0});
    for (int32_t i = 0; i < len; ++i) {
      m.positions.push_back(pos0 + i);
      m.table_start.push_back(seg * blocks_per_seq);
      m.n_ctx.push_back(pos0 + i + 1);
    }
    if (len >= kPrefillMinTokens) {
      m.groups.push_back(AttnGroup{true, row, len, seg, pos0, 0, 0});
    } else if (!m.groups.empty() && !m.groups.back().prefill) {
      AttnGroup& g = m.groups.back();  // rows are consecutive: parts come in row order
      g.n += len;
      g.max_ctx = std::max(g.max_ctx, pos0 + len);
      g.plan_ctx = g.max_ctx;
    } else {
      m.groups.push_back(AttnGroup{false, row, len, 0, 0, pos0 + len, pos0 + len});
    }
  }
}

// In a chunk of at most kGemvMaxBatch rows (a single decode launch), the decode plan is
// made for `ctx_limit` (blocks_per_seq x block_tokens: no token attends to more).
inline void fix_decode_plan(ChunkMeta& m, int64_t n, int32_t ctx_limit) {
  if (n > kGemvMaxBatch) return;
  for (AttnGroup& g : m.groups)
    if (!g.prefill) g.plan_ctx = std::max(g.max_ctx, ctx_limit);
}

// The rows of out_rows inside the chunk [c0, c0 + n): chunk-relative rows and their
// indices in out_rows (where their logits go), in out_rows order.
inline void chunk_out_rows(std::span<const int64_t> out_rows, int64_t c0, int64_t n, std::vector<int64_t>& rows,
                           std::vector<size_t>& out_index) {
  rows.clear();
  out_index.clear();
  for (size_t i = 0; i < out_rows.size(); ++i)
    if (out_rows[i] >= c0 && out_rows[i] < c0 + n) {
      rows.push_back(out_rows[i] - c0);
      out_index.push_back(i);
    }
}

// Runs of consecutive rows: rows[i .. i + len) == rows[i] + 0 .. len - 1, each gathered
// with one device copy.
struct RowRun {
  int64_t src = 0;   // first source row
  int64_t dst = 0;   // first destination row (its index in `rows`)
  int64_t len = 0;
};
inline void row_runs(std::span<const int64_t> rows, std::vector<RowRun>& runs) {
  runs.clear();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!runs.empty() && runs.back().src + runs.back().len == rows[i]) {
      ++runs.back().len;
    } else {
      runs.push_back(RowRun{rows[i], static_cast<int64_t>(i), 1});
    }
  }
}

}  // namespace tandem::gpu
