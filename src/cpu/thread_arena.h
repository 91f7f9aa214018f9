// The CPU lane's threads: one oneTBB arena of a fixed size, so kernels never
// oversubscribe the cores. Work is split into contiguous index ranges.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace tandem::cpu {

class ThreadArena {
 public:
  // n_threads <= 0 picks the number of cores this process may run on.
  explicit ThreadArena(int n_threads);
  ~ThreadArena();
  ThreadArena(const ThreadArena&) = delete;
  ThreadArena& operator=(const ThreadArena&) = delete;

  int n_threads() const { return n_threads_; }

  // Calls fn(begin, end) over disjoint sub-ranges covering [0, n), each at least
  // `grain` long (except the last), and returns when all are done.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t, int64_t)>& fn) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int n_threads_;
};

// Cores available to this process (sched_getaffinity), at least 1.
int available_cores();

}  // namespace tandem::cpu
