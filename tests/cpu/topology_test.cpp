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

// parallel_for_static: the chunks cover [0, n) once; none crosses a region boundary
// (parts = min(threads, n / grain) near-equal regions); inside a region all chunks but
// the last have one length, at least the grain, and the last is not longer.
TEST(ThreadArena, StaticChunksCoverTheRangeOnceInsideRegions) {
  for (int threads : {1, 2, 3}) {
    const ThreadArena arena(ThreadArenaOptions{threads, false});
    for (int64_t n : {1, 2, 5, 1000, 1001, 70000}) {
      for (int64_t grain : {1, 7, 600}) {
        std::mutex mu;
        std::vector<std::pair<int64_t, int64_t>> chunks;
        arena.parallel_for_static(n, grain, [&](int64_t b, int64_t e) {
          std::lock_guard<std::mutex> lock(mu);
          chunks.emplace_back(b, e);
        });
        std::sort(chunks.begin(), chunks.end());
        SCOPED_TRACE("threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
                     " grain=" + std::to_string(grain));
        ASSERT_FALSE(chunks.empty());
        EXPECT_EQ(chunks.front().first, 0);
        EXPECT_EQ(chunks.back().second, n);
        for (size_t i = 0; i + 1 < chunks.size(); ++i) ASSERT_EQ(chunks[i].second, chunks[i + 1].first);
        const int64_t parts = std::min<int64_t>(threads, std::max<int64_t>(1, n / grain));
        for (int64_t p = 0; p < parts; ++p) {
          const int64_t rb = n * p / parts, re = n * (p + 1) / parts;
          std::vector<int64_t> lens;
          for (const auto& [b, e] : chunks) {
            if (b >= re || e <= rb) continue;
            ASSERT_TRUE(b >= rb && e <= re) << "chunk [" << b << ", " << e << ") crosses region [" << rb << ", " << re << ")";
            lens.push_back(e - b);
          }
          ASSERT_FALSE(lens.empty());
          for (size_t i = 0; i + 1 < lens.size(); ++i) {
            EXPECT_EQ(lens[i], lens[0]);
            EXPECT_GE(lens[i], grain);
          }
          EXPECT_LE(lens.back(), lens[0]);
        }
      }
    }
  }
}

// Many passes back to back, of both kinds, with chunks of uneven cost: every index of
// every pass runs exactly once (a worker still finishing or lingering from one pass must
// never run chunks of the next with the old pass's view).
TEST(ThreadArena, BackToBackPassesRunEveryIndexOnce) {
  for (int threads : {2, 3, 5}) {
    const ThreadArena arena(ThreadArenaOptions{threads, false});
    std::vector<std::atomic<int>> hits(777);
    for (int pass = 0; pass < 3000; ++pass) {
      const int64_t n = 1 + pass % 777;
      const int64_t grain = 1 + pass % 5;
      const auto body = [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          if ((i * 31 + pass) % 97 == 0) std::this_thread::yield();
          hits[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
        }
      };
      if (pass % 2 == 0) arena.parallel_for_static(n, grain, body);
      else arena.parallel_for(n, grain, body);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(hits[static_cast<size_t>(i)].exchange(0), 1) << "threads " << threads << " pass " << pass << " index " << i;
      }
    }
  }
}

// A pass started from inside a chunk, and passes from two threads at once on one
// arena, run (serially where they must) and cover their ranges once.
TEST(ThreadArena, NestedAndConcurrentPassesComplete) {
  const ThreadArena arena(ThreadArenaOptions{2, false});
  std::vector<std::atomic<int>> inner(64 * 50);
  arena.parallel_for(64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      arena.parallel_for_static(50, 1, [&](int64_t ib, int64_t ie) {
        for (int64_t j = ib; j < ie; ++j) inner[static_cast<size_t>(i * 50 + j)].fetch_add(1);
      });
  });
  for (size_t i = 0; i < inner.size(); ++i) ASSERT_EQ(inner[i].load(), 1) << "index " << i;

  std::vector<std::atomic<int>> a(5000), c(5000);
  std::thread other([&] {
    for (int r = 0; r < 200; ++r)
      arena.parallel_for_static(5000, 10, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) a[static_cast<size_t>(i)].fetch_add(1);
      });
  });
  for (int r = 0; r < 200; ++r)
    arena.parallel_for(5000, 10, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) c[static_cast<size_t>(i)].fetch_add(1);
    });
  other.join();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].load(), 200) << "index " << i;
    ASSERT_EQ(c[i].load(), 200) << "index " << i;
  }
}

// A thread stalled inside its region's first chunk does not hold the pass: the caller
// takes over the rest of that region (from its back) and the stalled chunk is the only
// one of the region the staller runs. The caller's own chunks take 1 ms each, so the
// worker has tens of ms to arrive and claim its region's first chunk.
TEST(ThreadArena, StaticPassTakesOverAStalledThreadsRegion) {
  const ThreadArena arena(ThreadArenaOptions{2, false});
  const std::thread::id caller = std::this_thread::get_id();
  std::mutex mu;
  std::vector<std::pair<int64_t, std::thread::id>> ran;  // chunk start, thread
  arena.parallel_for_static(1600, 1, [&](int64_t b, int64_t) {
    if (b < 800) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (b == 800 && std::this_thread::get_id() != caller) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::lock_guard<std::mutex> lock(mu);
    ran.emplace_back(b, std::this_thread::get_id());
  });
  int by_caller = 0, by_other = 0;
  for (const auto& [b, t] : ran) {
    if (b < 800) continue;
    (t == caller ? by_caller : by_other) += 1;
  }
  EXPECT_EQ(by_other, 1) << "the worker did not run exactly its region's first chunk";
  EXPECT_GE(by_caller, 1) << "region 1 was one chunk: nothing to take over";
}

}  // namespace
}  // namespace tandem::cpu
