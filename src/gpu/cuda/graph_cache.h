// Which chunks the CUDA executor replays as CUDA graphs, the key a graph is cached
// under, and the account of the graphs' device memory against the plan's graph reserve.
// Plain C++ (no CUDA header), so tests/gpu_host checks it with no GPU; the executor
// instantiates GraphCache with its RAII graph handle.
//
// A decode chunk (every sequence one token, at most kGemvMaxBatch rows) makes the same
// launches every step: one decode attention launch whose split-K plan is fixed for the
// context limit (exec_chunk.h's plan_ctx), GEMV or cuBLAS matrices of n rows, and
// element-wise kernels of n rows, all reading the step's positions, tables, table_start
// and n_ctx from fixed device slots (chunk_inputs.h). Their configuration depends on n
// and on the layers run, nothing else: the key is (n_tokens, first_layer, end_layer).
//
// A key's first chunk runs directly (a warm-up: kernels loaded, cuBLAS' heuristics
// settled before anything is captured); its second is captured, and replayed from then
// on. A capture whose estimated memory (gpu/reserves.h) does not fit what is left of the
// reserve is dropped and its key refused for good: those chunks stay direct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/check.h"
#include "gpu/cuda/exec_chunk.h"
#include "gpu/reserves.h"

namespace tandem::gpu {

struct GraphKey {
  int32_t n_tokens = 0;
  int32_t first_layer = 0;
  int32_t end_layer = 0;  // exclusive
  friend bool operator==(const GraphKey&, const GraphKey&) = default;
};

// Whether the chunk planned in `m` (n rows) may run as a graph: layers to run, at most
// kGemvMaxBatch rows, every sequence's part one token (n_segs == n: parts are not empty).
inline bool is_graph_chunk(const ChunkMeta& m, int64_t n, bool layers) {
  return layers && n >= 1 && n <= kGemvMaxBatch && m.n_segs == n;
}

// The device memory charged for an instantiated graph of `nodes` nodes.
inline uint64_t graph_bytes_estimate(uint64_t nodes) { return kCudaGraphBaseBytes + nodes * kCudaGraphNodeBytes; }

enum class GraphStep { kDirect, kCapture, kReplay };

template <typename Exec>
class GraphCache {
 public:
  explicit GraphCache(uint64_t reserve_bytes) : reserve_(reserve_bytes) {}

  // What to do with a chunk of shape k now: replay its graph, capture one (the key's
  // second chunk), or launch directly (its first chunk, or a refused key). Counts the
  // sighting.
  GraphStep next(const GraphKey& k) {
    Entry& e = entry(k);
    if (e.cached) return GraphStep::kReplay;
    if (e.refused) return GraphStep::kDirect;
    return e.seen++ == 0 ? GraphStep::kDirect : GraphStep::kCapture;
  }

  // After capturing k's graph of `nodes` nodes: whether its estimate fits what is left
  // of the reserve. When it does not, k is refused for good.
  bool fits(const GraphKey& k, uint64_t nodes) {
    if (graph_bytes_estimate(nodes) <= reserve_ - used_) return true;
    refuse(k);
    return false;
  }
  // k's graph, charged graph_bytes_estimate(nodes) (fits(k, nodes) said yes).
  void insert(const GraphKey& k, Exec exec, uint64_t nodes) {
    Entry& e = entry(k);
    const uint64_t bytes = graph_bytes_estimate(nodes);
    TANDEM_CHECK(!e.cached && !e.refused && bytes <= reserve_ - used_) << "graph cache: bad insert";
    e.exec = std::move(exec);
    e.cached = true;
    e.bytes = bytes;
    used_ += bytes;
    ++cached_;
  }
  // k stays on direct launches (a capture that failed, or did not fit).
  void refuse(const GraphKey& k) { entry(k).refused = true; }

  // k's graph (next(k) said kReplay).
  Exec& exec(const GraphKey& k) {
    Entry& e = entry(k);
    TANDEM_CHECK(e.cached) << "graph cache: no graph for " << k.n_tokens << " tokens";
    return e.exec;
  }

  uint64_t reserve() const { return reserve_; }
  uint64_t used() const { return used_; }  // estimates of the cached graphs
  int32_t cached() const { return cached_; }

 private:
  struct Entry {
    GraphKey key;
    int32_t seen = 0;
    bool refused = false;
    bool cached = false;
    uint64_t bytes = 0;
    Exec exec{};
  };
  // A few keys at most (kGemvMaxBatch sizes per layer range): a linear search.
  Entry& entry(const GraphKey& k) {
    for (Entry& e : entries_)
      if (e.key == k) return e;
    entries_.push_back(Entry{k});
    return entries_.back();
  }

  uint64_t reserve_;
  uint64_t used_ = 0;
  int32_t cached_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace tandem::gpu
