// The CPU lane's threads: one oneTBB arena of a fixed size, so kernels never
// oversubscribe the cores. Work is split into contiguous index ranges.
// By default the arena has one thread per physical core this process may use (from
// the hwloc topology, not counting hyperthreads), and its worker threads are pinned
// one per core while they work in it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cpu/topology.h"

namespace tandem::cpu {

struct ThreadArenaOptions {
  int n_threads = 0;  // <= 0: the physical cores this process may run on
  // Pin each worker to its own physical core. Applied only when n_threads <= the allowed
  // physical cores (more threads than cores cannot each own one); see pin_note().
  bool pin = true;
};

class ThreadArena {
 public:
  // Same as ThreadArena(ThreadArenaOptions{n_threads, true}).
  explicit ThreadArena(int n_threads);
  // Probes the topology itself; if hwloc fails, sizes from available_cores() unpinned.
  explicit ThreadArena(const ThreadArenaOptions& opt);
  // With a topology probed once by the caller (probing costs a few milliseconds).
  ThreadArena(const ThreadArenaOptions& opt, const CpuTopology& topo);
  ~ThreadArena();
  ThreadArena(const ThreadArena&) = delete;
  ThreadArena& operator=(const ThreadArena&) = delete;

  int n_threads() const { return n_threads_; }

  // Whether workers are pinned; when not (or when some pin was refused), pin_note() says why.
  bool pinned() const;
  std::string pin_note() const;
  // [n_threads] when pinned, else empty: the OS cpu a worker in arena slot i is pinned
  // to (core_first_pu[i]); -1 for slot 0, which belongs to the thread that calls
  // parallel_for and is never pinned (it is the caller's thread), leaving it core 0.
  const std::vector<int>& slot_cpus() const;
  // Times the OS refused to pin a worker (sched_setaffinity failed); work ran unpinned.
  int pin_refusals() const;

  // Calls fn(begin, end) over disjoint sub-ranges covering [0, n), each at least
  // `grain` long (except the last), and returns when all are done. The calling thread
  // takes part. Chunks are handed out from the front, about 8 per thread.
  // Passes never nest or overlap: one started from inside fn, or while another thread's
  // pass runs on this arena, runs serially on its caller (fn(0, n)).
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t, int64_t)>& fn) const;
  // For memory-bound passes: the range is cut into parts = min(n_threads(), n / grain)
  // near-equal contiguous regions, region p = [n*p/parts, n*(p+1)/parts), each run
  // front to back in chunks of equal length (at least `grain`; the region's last may be
  // shorter) by one thread, so each thread's share is one long stream for the
  // prefetchers. A thread whose region is done takes chunks from the back of the
  // region with the most left, so a late or slowed thread's share is taken over and
  // the pass never waits for a thread to start. parts == 1: fn(0, n) on the caller.
  void parallel_for_static(int64_t n, int64_t grain,
                           const std::function<void(int64_t, int64_t)>& fn) const;

 private:
  struct Impl;
  void init(const ThreadArenaOptions& opt, const CpuTopology* topo, const std::string& why_no_topo);

  std::unique_ptr<Impl> impl_;
  int n_threads_ = 1;
};

// Logical cpus available to this process (sched_getaffinity), at least 1.
int available_cores();

}  // namespace tandem::cpu
