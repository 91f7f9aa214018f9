#include "cpu/thread_arena.h"

#include <sched.h>

#include <algorithm>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace tandem::cpu {

struct ThreadArena::Impl {
  explicit Impl(int n) : arena(n) {}
  tbb::task_arena arena;
};

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

ThreadArena::ThreadArena(int n_threads)
    : n_threads_(n_threads > 0 ? n_threads : available_cores()) {
  impl_ = std::make_unique<Impl>(n_threads_);
}

ThreadArena::~ThreadArena() = default;

void ThreadArena::parallel_for(int64_t n, int64_t grain,
                               const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  impl_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                      [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); });
  });
}

}  // namespace tandem::cpu
