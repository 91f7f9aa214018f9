// NUMA placement of large read-mostly buffers (the packed weights).
//
// Decode reads every matrix once per token, split across all the arena's threads; on a
// machine with several NUMA nodes, weights left on one node (where the loading thread
// first touched them) make every other node's threads read across the interconnect and
// cap the whole step at one node's bandwidth. Interleaving the pages round-robin over
// the nodes the process may run on spreads the reads over every node's memory
// controllers (llama.cpp's --numa distribute does the same by first touch).
#pragma once

#include <cstddef>
#include <string>

namespace tandem::cpu {

enum class NumaPlacement {
  kOneNode,      // one NUMA node (or none known): pages stay where the kernel puts them
  kInterleaved,  // pages interleaved over `nodes` nodes
  kFailed,       // several nodes, but the kernel refused the policy (see note)
};

struct NumaResult {
  NumaPlacement placement = NumaPlacement::kOneNode;
  int nodes = 1;     // NUMA nodes holding CPUs this process may run on
  std::string note;  // why kFailed
};

// Asks the kernel to interleave the pages of [p, p + bytes) over the NUMA nodes of this
// process's CPUs. Call before the pages are first touched; p page-aligned. With one node
// it does nothing. The topology is read once per process.
NumaResult interleave_pages(void* p, size_t bytes);

}  // namespace tandem::cpu
