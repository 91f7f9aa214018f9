// What this machine's CPU looks like to this process: packages, NUMA nodes, physical
// cores and their first hardware thread, cache sizes — read from hwloc, restricted to
// the CPUs this process may run on. Facts hwloc cannot give (VMs hide some) are filled
// with safe defaults, and each default is named in `assumed`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace tandem::cpu {

struct CpuTopology {
  int packages = 1;        // sockets holding at least one allowed CPU
  int numa_nodes = 1;      // NUMA nodes holding at least one allowed CPU
  int physical_cores = 1;  // cores with at least one allowed hardware thread
  int logical_cpus = 1;    // allowed hardware threads (PUs)
  // [physical_cores]: the OS cpu index of each core's first allowed PU, in topology
  // order (package, then core); what a thread is pinned to for "one thread per core".
  std::vector<int> core_first_pu;
  int64_t l1d_bytes = 0;  // one core's L1 data cache
  int64_t l2_bytes = 0;   // one L2 instance (per core on most parts)
  int64_t l3_bytes = 0;   // one L3 instance (shared by the cores under it)
  // Facts hwloc could not give (or gave implausibly), with the default used,
  // e.g. "L3 size unknown: assumed 32 MiB". Empty when everything was reported.
  std::vector<std::string> assumed;
};

// Loads the hwloc topology, restricted to this process's allowed CPUs (the union of its
// threads' affinity masks). Errors only when hwloc cannot load a topology at all.
Result<CpuTopology> probe_topology();

// One line, e.g. "1 package, 1 NUMA node, 2 cores, 2 threads (cpus 0,1); L1d 48 KiB,
// L2 1 MiB, L3 32 MiB; assumed: L3 ...".
std::string describe(const CpuTopology& t);

}  // namespace tandem::cpu
