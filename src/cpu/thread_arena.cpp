#include "cpu/thread_arena.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>

namespace tandem::cpu {
namespace {

// Pins each worker thread to its slot's cpu while it works in the arena, and gives it
// back `restore` (the process's mask) when it leaves: oneTBB's workers are shared by
// every arena in the process, so a pin must not follow a worker elsewhere.
class PinObserver final : public tbb::task_scheduler_observer {
 public:
  PinObserver(tbb::task_arena& arena, const std::vector<int>& slot_cpus, const cpu_set_t& restore)
      : tbb::task_scheduler_observer(arena),
        slot_cpus_(slot_cpus),
        pinned_(std::make_unique<std::atomic<bool>[]>(slot_cpus.size())),
        restore_(restore) {
    for (size_t i = 0; i < slot_cpus_.size(); ++i) pinned_[i].store(false);
    observe(true);
  }

  ~PinObserver() override {
    // Workers leave an arena soon after its work runs out; wait (briefly) for their exit
    // callbacks, which unpin them, before the callbacks stop.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (any_pinned() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    observe(false);
  }

  void on_scheduler_entry(bool is_worker) override {
    if (!is_worker) return;  // the caller's own thread: its affinity is not ours to change
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot < 0 || slot >= static_cast<int>(slot_cpus_.size()) || slot_cpus_[slot] < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(slot_cpus_[slot], &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pinned_[slot].store(true);
  }

  void on_scheduler_exit(bool is_worker) override {
    if (!is_worker) return;
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot < 0 || slot >= static_cast<int>(slot_cpus_.size())) return;
    if (pinned_[slot].exchange(false)) sched_setaffinity(0, sizeof(restore_), &restore_);
  }

  int refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  bool any_pinned() const {
    for (size_t i = 0; i < slot_cpus_.size(); ++i) {
      if (pinned_[i].load()) return true;
    }
    return false;
  }

  const std::vector<int> slot_cpus_;                  // [n_threads]: cpu per slot, -1: none
  std::unique_ptr<std::atomic<bool>[]> pinned_;       // [n_threads]: slot's thread is pinned now
  const cpu_set_t restore_;
  std::atomic<int> refusals_{0};
};

}  // namespace

struct ThreadArena::Impl {
  explicit Impl(int n) : arena(n) {}
  tbb::task_arena arena;                 // declared first: outlives the observer
  std::vector<int> slot_cpus;            // [n_threads] when pinned, else empty
  std::string note;                      // why not pinned, when not
  std::unique_ptr<PinObserver> observer;  // null when not pinned
};

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

ThreadArena::ThreadArena(int n_threads) : ThreadArena(ThreadArenaOptions{n_threads, true}) {}

ThreadArena::ThreadArena(const ThreadArenaOptions& opt) {
  Result<CpuTopology> topo = probe_topology();
  if (topo.is_ok()) {
    init(opt, &topo.value(), {});
  } else {
    init(opt, nullptr, topo.error().message());
  }
}

ThreadArena::ThreadArena(const ThreadArenaOptions& opt, const CpuTopology& topo) { init(opt, &topo, {}); }

void ThreadArena::init(const ThreadArenaOptions& opt, const CpuTopology* topo, const std::string& why_no_topo) {
  const int cores = topo != nullptr ? std::max(1, topo->physical_cores) : available_cores();
  n_threads_ = opt.n_threads > 0 ? opt.n_threads : cores;
  impl_ = std::make_unique<Impl>(n_threads_);

  std::ostringstream note;
  cpu_set_t restore;
  CPU_ZERO(&restore);
  if (!opt.pin) {
    note << "pinning off by request";
  } else if (topo == nullptr) {
    note << "not pinned: no topology (" << why_no_topo << ")";
  } else if (n_threads_ > topo->physical_cores ||
             static_cast<int>(topo->core_first_pu.size()) < n_threads_) {
    note << "not pinned: " << n_threads_ << " threads > " << topo->physical_cores << " physical cores";
  } else if (n_threads_ == 1) {
    note << "not pinned: 1 thread (the caller's own)";
  } else if (sched_getaffinity(0, sizeof(restore), &restore) != 0) {
    note << "not pinned: sched_getaffinity failed";
  } else {
    impl_->slot_cpus.assign(topo->core_first_pu.begin(), topo->core_first_pu.begin() + n_threads_);
    impl_->slot_cpus[0] = -1;  // the caller's thread
    impl_->observer = std::make_unique<PinObserver>(impl_->arena, impl_->slot_cpus, restore);
  }
  impl_->note = note.str();
}

ThreadArena::~ThreadArena() {
  if (impl_) impl_->observer.reset();
}

bool ThreadArena::pinned() const { return impl_->observer != nullptr; }

std::string ThreadArena::pin_note() const {
  if (impl_->observer == nullptr) return impl_->note;
  const int refused = impl_->observer->refusals();
  if (refused == 0) return "pinned one worker per physical core";
  return "pinned, but the OS refused " + std::to_string(refused) + " pin(s): those ran unpinned";
}

const std::vector<int>& ThreadArena::slot_cpus() const { return impl_->slot_cpus; }

int ThreadArena::pin_refusals() const { return impl_->observer ? impl_->observer->refusals() : 0; }

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

void ThreadArena::parallel_for_static(int64_t n, int64_t grain,
                                      const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t parts = std::min<int64_t>(n_threads_, std::max<int64_t>(1, n / grain));
  if (parts == 1) {
    fn(0, n);
    return;
  }
  impl_->arena.execute([&] {
    tbb::parallel_for(
        int64_t{0}, parts, [&](int64_t p) { fn(n * p / parts, n * (p + 1) / parts); },
        tbb::static_partitioner());
  });
}

}  // namespace tandem::cpu
