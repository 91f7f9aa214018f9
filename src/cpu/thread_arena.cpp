#include "cpu/thread_arena.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

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

// The fork-join behind parallel_for and parallel_for_static.
//
// oneTBB hosts the worker threads (the arena, pinned by PinObserver), but the fork and
// the join are ours: a decode step runs ~400 parallel passes of 10 us to 1 ms, and
// measured on a 2-vCPU VM (8B Q4_0 decode, 2 threads) tbb::parallel_for's join cost
// 40-100 us per matmul (the caller sleeps in oneTBB's wait and is woken through the
// hypervisor) and its worker started 6-22 us late: about 10% of a token's time.
//
// A pass ("job") is cut into regions, each a run of chunks. Every participant claims
// chunks with a CAS on its region's span (tag | front | back): from the front of its
// own region (one contiguous stream per thread), and, when that is empty, from the
// back of the region with the most chunks left (so a late or slow thread's share is
// taken over chunk by chunk, and the caller alone can always finish the job: no
// participant waits for another to start). The caller spins until every chunk is
// done. Workers are oneTBB tasks enqueued in the arena; after a job a worker spins
// for kLinger waiting for the next one (decode's passes come back to back), then
// returns to oneTBB. A worker that was descheduled holding a stale view cannot claim
// a chunk of a later job: claims compare the job's 32-bit tag, and a job's geometry
// is read only after a successful claim (which the job cannot finish without).
namespace {

constexpr auto kLinger = std::chrono::microseconds(100);
constexpr int64_t kMaxChunks = 0xffff;  // per region: 16-bit front and back

// One region's claim state: tag << 32 | front << 16 | back (chunks [front, back) left).
struct alignas(64) Span {
  std::atomic<uint64_t> v{0};
};

constexpr uint64_t span_of(uint32_t tag, uint64_t front, uint64_t back) {
  return uint64_t{tag} << 32 | front << 16 | back;
}
constexpr uint32_t tag_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
constexpr int64_t front_of(uint64_t v) { return static_cast<int64_t>((v >> 16) & 0xffff); }
constexpr int64_t back_of(uint64_t v) { return static_cast<int64_t>(v & 0xffff); }

thread_local const void* tls_in_job = nullptr;  // the scheduler whose chunk this thread runs

}  // namespace

struct ThreadArena::Impl {
  explicit Impl(int n) : arena(n), n_threads(n), spans(static_cast<size_t>(n)), region(static_cast<size_t>(n)) {}
  tbb::task_arena arena;                 // declared first: outlives the observer
  std::vector<int> slot_cpus;            // [n_threads] when pinned, else empty
  std::string note;                      // why not pinned, when not
  std::unique_ptr<PinObserver> observer;  // null when not pinned

  // ---- the fork-join (above) ----
  struct Region {
    int64_t begin = 0, end = 0, chunk = 1;  // chunk k = [begin + k * chunk, min(end, +chunk))
  };
  const int n_threads;
  std::mutex post_mu;                      // one job at a time; others run serially
  std::atomic<uint32_t> epoch{0};          // the current job's tag (0: none yet)
  std::atomic<int> joined{0};              // participants of the current job so far
  std::atomic<int64_t> done{0};            // chunks finished in the current job
  std::atomic<int> lingering{0};           // workers spinning in worker_loop
  std::atomic<int> pending{0};             // worker tasks enqueued, not started
  std::atomic<bool> stopping{false};
  std::vector<Span> spans;                 // [n_threads]
  // The current job, written before its spans are published (release), read after a
  // claim (acquire) by whoever runs a chunk.
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  // Read before a claim too (as hints), so atomic.
  std::atomic<int> n_regions{0};
  std::atomic<bool> dynamic{false};        // one shared region, claimed from the front
  std::vector<Region> region;              // [n_threads]

  void run_job(int64_t n, int regions, int64_t chunk_len, bool dyn, const std::function<void(int64_t, int64_t)>& f);
  void participate(uint32_t tag, int home);
  void worker_loop();
  void stop_workers();
  ~Impl() { stop_workers(); }

 private:
  bool claim(int r, uint32_t tag, bool from_back, int64_t* k);
  int fullest_region(uint32_t tag) const;  // -1: no chunk left in the job
  void run_chunk(int r, int64_t k);
};

bool ThreadArena::Impl::claim(int r, uint32_t tag, bool from_back, int64_t* k) {
  std::atomic<uint64_t>& a = spans[static_cast<size_t>(r)].v;
  uint64_t v = a.load(std::memory_order_acquire);
  while (tag_of(v) == tag && front_of(v) < back_of(v)) {
    const uint64_t nv = from_back ? v - 1 : v + (uint64_t{1} << 16);
    if (a.compare_exchange_weak(v, nv, std::memory_order_acq_rel, std::memory_order_acquire)) {
      *k = from_back ? back_of(v) - 1 : front_of(v);
      return true;
    }
  }
  return false;
}

void ThreadArena::Impl::run_chunk(int r, int64_t k) {
  const Region& g = region[static_cast<size_t>(r)];
  const int64_t b = g.begin + k * g.chunk;
  const void* outer = tls_in_job;
  tls_in_job = this;
  (*fn)(b, std::min(g.end, b + g.chunk));
  tls_in_job = outer;
}

void ThreadArena::Impl::participate(uint32_t tag, int home) {
  int64_t ran = 0;  // chunks this thread ran, counted into `done` once at the end
  for (;;) {
    int64_t k = 0;
    int r = home;
    if (r < 0 || !claim(r, tag, false, &k)) {
      // Nothing left at home: the region with the most chunks left, from its back (its
      // owner keeps its stream), or from the front when the job is one shared region.
      r = fullest_region(tag);
      if (r < 0) break;
      if (!claim(r, tag, !dynamic.load(std::memory_order_relaxed), &k)) continue;
    }
    run_chunk(r, k);
    ++ran;
  }
  if (ran > 0) done.fetch_add(ran, std::memory_order_release);
}

int ThreadArena::Impl::fullest_region(uint32_t tag) const {
  int best = -1;
  int64_t most = 0;
  for (int r = 0; r < n_threads; ++r) {
    const uint64_t v = spans[static_cast<size_t>(r)].v.load(std::memory_order_relaxed);
    if (tag_of(v) == tag && back_of(v) - front_of(v) > most) {
      most = back_of(v) - front_of(v);
      best = r;
    }
  }
  return best;
}

void ThreadArena::Impl::worker_loop() {
  lingering.fetch_add(1);
  pending.fetch_sub(1);
  uint32_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + kLinger;
  while (!stopping.load(std::memory_order_relaxed)) {
    const uint32_t e = epoch.load(std::memory_order_acquire);
    if (e != seen) {
      seen = e;
      // Home: region 0 of a dynamic job, else the next region nobody took (none: steal).
      const int p = joined.fetch_add(1);
      int home = p < n_regions.load(std::memory_order_relaxed) ? p : -1;
      if (dynamic.load(std::memory_order_relaxed)) home = 0;
      participate(e, home);
      deadline = std::chrono::steady_clock::now() + kLinger;
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      lingering.fetch_sub(1);
      // A job posted while this worker was leaving may have counted on it.
      if (epoch.load(std::memory_order_acquire) == seen) return;
      lingering.fetch_add(1);
      continue;
    }
    _mm_pause();
  }
  lingering.fetch_sub(1);
}

void ThreadArena::Impl::run_job(int64_t n, int regions, int64_t chunk_len, bool dyn,
                                const std::function<void(int64_t, int64_t)>& f) {
  // One thread, a pass nested in a chunk, or another caller's pass under way: serially.
  if (n_threads == 1 || regions <= 0 || tls_in_job != nullptr || !post_mu.try_lock()) {
    f(0, n);
    return;
  }
  std::lock_guard<std::mutex> lock(post_mu, std::adopt_lock);
  fn = &f;
  n_regions.store(regions, std::memory_order_relaxed);
  dynamic.store(dyn, std::memory_order_relaxed);
  int64_t total = 0;
  uint32_t tag = epoch.load(std::memory_order_relaxed) + 1;
  if (tag == 0) tag = 1;
  for (int r = 0; r < n_threads; ++r) {
    Region& g = region[static_cast<size_t>(r)];
    int64_t chunks = 0;
    if (r < regions) {
      g.begin = n * r / regions;
      g.end = n * (r + 1) / regions;
      const int64_t len = g.end - g.begin;
      g.chunk = std::max({chunk_len, int64_t{1}, (len + kMaxChunks - 1) / kMaxChunks});
      chunks = (len + g.chunk - 1) / g.chunk;
    }
    total += chunks;
    spans[static_cast<size_t>(r)].v.store(span_of(tag, 0, static_cast<uint64_t>(chunks)), std::memory_order_release);
  }
  done.store(0, std::memory_order_relaxed);
  joined.store(1, std::memory_order_relaxed);  // the caller is participant 0
  epoch.store(tag, std::memory_order_release);
  for (int have = lingering.load() + pending.load(); have < n_threads - 1; ++have) {
    pending.fetch_add(1);
    arena.enqueue([this] { worker_loop(); });
  }
  participate(tag, 0);
  // The last chunks are others' (at most one each); yield when one takes long (its
  // thread was descheduled, or more threads than cores share them).
  for (int spins = 0; done.load(std::memory_order_acquire) != total; ++spins) {
    if (spins < 4096) _mm_pause();
    else std::this_thread::yield();
  }
}

void ThreadArena::Impl::stop_workers() {
  // Enqueued workers refer to this: let them all leave (lingering ones see `stopping`
  // at once; pending ones run soon and return).
  stopping.store(true);
  while (lingering.load() != 0 || pending.load() != 0) std::this_thread::yield();
}

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
  if (!impl_) return;
  impl_->stop_workers();  // before the observer: workers unpin as they leave the arena
  impl_->observer.reset();
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
  // One shared region; about 8 chunks per thread (none under the grain) for balance.
  const int64_t chunk = std::max(grain, (n + 8 * n_threads_ - 1) / (8 * n_threads_));
  impl_->run_job(n, 1, chunk, true, fn);
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
  // Each part in about 64 chunks (none under the grain): what a late or slow thread
  // leaves is taken over at that granularity, and the pass ends at most one chunk
  // after the first thread runs out of work.
  const int64_t chunk = std::max(grain, n / parts / 64);
  impl_->run_job(n, static_cast<int>(parts), chunk, false, fn);
}

}  // namespace tandem::cpu
