// The hwloc topology probe and the thread arena's sizing and pinning, checked against
// what the OS says about this process (sched_getaffinity, sched_getcpu).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cpu/thread_arena.h"
#include "cpu/topology.h"

namespace tandem::cpu {
namespace {

std::vector<int> mask_cpus(const cpu_set_t& m) {
  std::vector<int> v;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &m)) v.push_back(c);
  }
  return v;
}

std::vector<int> my_cpus() {
  cpu_set_t m;
  CPU_ZERO(&m);
  EXPECT_EQ(sched_getaffinity(0, sizeof(m), &m), 0);
  return mask_cpus(m);
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

CpuTopology probe_or_die() {
  Result<CpuTopology> t = probe_topology();
  EXPECT_TRUE(t.is_ok()) << (t.is_ok() ? "" : t.error().message());
  return t.is_ok() ? t.value() : CpuTopology{};
}

// What one thread saw while running a chunk of parallel_for.
struct Sighting {
  std::thread::id thread;
  int cpu_before;            // sched_getcpu() at the chunk's start
  int cpu_after;             // ... and after waiting for the other threads
  std::vector<int> affinity;  // the thread's mask
};

// Runs n_threads chunks, each waiting (up to 5 s) until `expect` threads have taken
// one, so that the workers, not just the caller, are seen. oneTBB runs at most one
// thread per allowed logical cpu, however large the arena.
std::vector<Sighting> sightings(const ThreadArena& arena, int expect) {
  const int n = arena.n_threads();
  std::mutex mu;
  std::vector<Sighting> seen;
  std::set<std::thread::id> threads;
  std::atomic<int> distinct{0};
  arena.parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      Sighting s{std::this_thread::get_id(), sched_getcpu(), -1, my_cpus()};
      {
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(s.thread);
        distinct.store(static_cast<int>(threads.size()));
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (distinct.load() < expect && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      s.cpu_after = sched_getcpu();
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(std::move(s));
    }
  });
  return seen;
}

TEST(Topology, ProbeIsConsistentWithTheAffinityMask) {
  const CpuTopology t = probe_or_die();
  const std::vector<int> allowed = my_cpus();
  EXPECT_GE(t.packages, 1);
  EXPECT_GE(t.numa_nodes, 1);
  EXPECT_GE(t.physical_cores, 1);
  EXPECT_LE(t.packages, t.physical_cores);
  EXPECT_LE(t.physical_cores, t.logical_cpus);
  EXPECT_EQ(t.logical_cpus, static_cast<int>(allowed.size()));
  EXPECT_EQ(t.logical_cpus, available_cores());
  ASSERT_EQ(t.core_first_pu.size(), static_cast<size_t>(t.physical_cores));
  std::set<int> distinct(t.core_first_pu.begin(), t.core_first_pu.end());
  EXPECT_EQ(distinct.size(), t.core_first_pu.size()) << "two cores share a first PU";
  for (int pu : t.core_first_pu) EXPECT_TRUE(contains(allowed, pu)) << "cpu " << pu << " not allowed";
  EXPECT_GT(t.l1d_bytes, 0);
  EXPECT_LE(t.l1d_bytes, t.l2_bytes);
  EXPECT_LE(t.l2_bytes, t.l3_bytes);

  const std::string line = describe(t);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(std::to_string(t.physical_cores) + " core"), std::string::npos) << line;
  for (const std::string& a : t.assumed) EXPECT_NE(line.find(a), std::string::npos) << line;
  std::printf("topology: %s\n", line.c_str());
}

TEST(ThreadArena, DefaultsToPhysicalCores) {
  const CpuTopology t = probe_or_die();
  EXPECT_EQ(ThreadArena(0).n_threads(), t.physical_cores);
  EXPECT_EQ(ThreadArena(ThreadArenaOptions{}).n_threads(), t.physical_cores);
  EXPECT_EQ(ThreadArena(ThreadArenaOptions{3, false}).n_threads(), 3);
}

TEST(ThreadArena, PinsEachWorkerToItsOwnCore) {
  const CpuTopology t = probe_or_die();
  if (t.physical_cores < 2) GTEST_SKIP() << "one core: no worker threads to pin";
  const std::vector<int> allowed = my_cpus();
  const std::thread::id caller = std::this_thread::get_id();
  const ThreadArena arena(ThreadArenaOptions{0, true}, t);
  ASSERT_TRUE(arena.pinned()) << arena.pin_note();
  ASSERT_EQ(arena.slot_cpus().size(), static_cast<size_t>(t.physical_cores));
  EXPECT_EQ(arena.slot_cpus()[0], -1);

  const std::vector<Sighting> seen = sightings(arena, arena.n_threads());
  std::set<int> worker_cpus;
  int workers = 0;
  for (const Sighting& s : seen) {
    EXPECT_TRUE(contains(allowed, s.cpu_before)) << "ran on cpu " << s.cpu_before;
    EXPECT_TRUE(contains(allowed, s.cpu_after)) << "ran on cpu " << s.cpu_after;
    if (s.thread == caller) {
      EXPECT_EQ(s.affinity, allowed) << "the caller's own thread was re-pinned";
      continue;
    }
    ++workers;
    if (arena.pin_refusals() > 0) continue;  // the OS said no: those workers ran unpinned
    ASSERT_EQ(s.affinity.size(), 1u) << "worker not pinned to one cpu";
    const int cpu = s.affinity[0];
    EXPECT_TRUE(contains(t.core_first_pu, cpu)) << "pinned to cpu " << cpu << ", not a core's first PU";
    EXPECT_NE(cpu, t.core_first_pu[0]) << "worker pinned to the caller's core";
    EXPECT_EQ(s.cpu_before, cpu);
    EXPECT_EQ(s.cpu_after, cpu);
    worker_cpus.insert(cpu);
  }
  EXPECT_GE(workers, 1) << "no worker thread joined within 5 s";
  if (arena.pin_refusals() == 0) {
    EXPECT_EQ(worker_cpus.size(), static_cast<size_t>(workers)) << "two workers share a core";
  }
  EXPECT_EQ(my_cpus(), allowed);
}

TEST(ThreadArena, MoreThreadsThanCoresRunsUnpinned) {
  const CpuTopology t = probe_or_die();
  const std::vector<int> allowed = my_cpus();
  {
    // A pinned arena first: its workers must leave it unpinned.
    const ThreadArena pinned(ThreadArenaOptions{0, true}, t);
    (void)sightings(pinned, pinned.n_threads());
  }
  const int n = t.physical_cores + 2;
  const ThreadArena arena(ThreadArenaOptions{n, true}, t);
  EXPECT_EQ(arena.n_threads(), n);
  EXPECT_FALSE(arena.pinned());
  EXPECT_TRUE(arena.slot_cpus().empty());
  EXPECT_NE(arena.pin_note().find("not pinned"), std::string::npos) << arena.pin_note();

  for (const Sighting& s : sightings(arena, std::min(n, t.logical_cpus))) {
    EXPECT_TRUE(contains(allowed, s.cpu_before)) << "ran on cpu " << s.cpu_before;
    EXPECT_EQ(s.affinity, allowed) << "a worker kept a pin from an earlier arena";
  }
  // Every index is covered exactly once.
  std::vector<std::atomic<int>> hits(1000);
  arena.parallel_for(1000, 7, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
}

TEST(ThreadArena, PinningCanBeTurnedOff) {
  const CpuTopology t = probe_or_die();
  const std::vector<int> allowed = my_cpus();
  const ThreadArena arena(ThreadArenaOptions{0, false}, t);
  EXPECT_EQ(arena.n_threads(), t.physical_cores);
  EXPECT_FALSE(arena.pinned());
  EXPECT_EQ(arena.pin_refusals(), 0);
  EXPECT_NE(arena.pin_note().find("off"), std::string::npos) << arena.pin_note();
  for (const Sighting& s : sightings(arena, arena.n_threads())) EXPECT_TRUE(contains(allowed, s.cpu_before));
}

// parallel_for_static: the parts cover [0, n) once, are contiguous, at most n_threads
// of them, near-equal, and none shorter than the grain (unless there is only one).
TEST(ThreadArena, StaticPartsCoverTheRangeOnce) {
  for (int threads : {1, 2, 3}) {
    const ThreadArena arena(ThreadArenaOptions{threads, false});
    for (int64_t n : {1, 2, 5, 1000, 1001}) {
      for (int64_t grain : {1, 7, 600}) {
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> parts;
        arena.parallel_for_static(n, grain, [&](int64_t b, int64_t e) {
          std::lock_guard<std::mutex> lock(mu);
          parts.emplace_back(b, e);
        });
        std::sort(parts.begin(), parts.end());
        SCOPED_TRACE("threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
                     " grain=" + std::to_string(grain));
        ASSERT_FALSE(parts.empty());
        EXPECT_LE(static_cast<int>(parts.size()), arena.n_threads());
        EXPECT_EQ(parts.front().first, 0);
        EXPECT_EQ(parts.back().second, n);
        for (size_t i = 0; i + 1 < parts.size(); ++i) EXPECT_EQ(parts[i].second, parts[i + 1].first);
        for (const auto& [b, e] : parts) {
          EXPECT_LT(b, e);
          if (parts.size() > 1) EXPECT_GE(e - b, std::min<int64_t>(grain, n / static_cast<int64_t>(parts.size())));
          EXPECT_LE(e - b, n / static_cast<int64_t>(parts.size()) + 1);
        }
      }
    }
  }
}

}  // namespace
}  // namespace tandem::cpu
