#include "cpu/topology.h"

#include <sched.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>

#include <hwloc.h>

namespace tandem::cpu {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
struct BitmapDeleter {
  void operator()(hwloc_bitmap_s* b) const { hwloc_bitmap_free(b); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;
using BitmapPtr = std::unique_ptr<hwloc_bitmap_s, BitmapDeleter>;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

std::string bytes_text(int64_t b) {
  std::ostringstream os;
  if (b >= kMiB && b % kMiB == 0) {
    os << b / kMiB << " MiB";
  } else if (b >= kMiB) {
    os << static_cast<double>(b) / static_cast<double>(kMiB) << " MiB";
  } else {
    os << b / kKiB << " KiB";
  }
  return os.str();
}

// "0-3,8,10-11" for a sorted list of cpu indices.
std::string ranges_text(const std::vector<int>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (i > 0) os << ',';
    os << v[i];
    if (j > i) os << '-' << v[j];
    i = j + 1;
  }
  return os.str();
}

// The CPUs this process may run on: the union of its threads' masks (so a pinned worker
// thread does not shrink the answer), else the calling thread's mask, always within the
// topology's allowed set (cgroup cpusets). Empty bitmap on failure.
BitmapPtr allowed_cpus(hwloc_topology_t topo, std::vector<std::string>& assumed) {
  BitmapPtr set(hwloc_bitmap_alloc());
  if (!set) return set;
  if (hwloc_get_cpubind(topo, set.get(), HWLOC_CPUBIND_PROCESS) != 0 || hwloc_bitmap_iszero(set.get())) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    hwloc_bitmap_zero(set.get());
    if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &mask)) hwloc_bitmap_set(set.get(), static_cast<unsigned>(c));
      }
    }
  }
  hwloc_bitmap_and(set.get(), set.get(), hwloc_topology_get_allowed_cpuset(topo));
  if (hwloc_bitmap_iszero(set.get())) {
    hwloc_bitmap_copy(set.get(), hwloc_topology_get_allowed_cpuset(topo));
    assumed.push_back("process affinity unreadable: assumed every allowed cpu");
  }
  return set;
}

// Objects of `type` whose cpuset meets `set`.
int count_meeting(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_const_bitmap_t set) {
  int n = 0;
  for (hwloc_obj_t o = hwloc_get_next_obj_by_type(topo, type, nullptr); o != nullptr;
       o = hwloc_get_next_obj_by_type(topo, type, o)) {
    if (o->cpuset != nullptr && hwloc_bitmap_intersects(o->cpuset, set)) ++n;
  }
  return n;
}

// Size of the first cache of `depth` (1..3) above the PU, data or unified; 0 if none.
int64_t cache_above(hwloc_obj_t pu, unsigned depth) {
  for (hwloc_obj_t o = pu; o != nullptr; o = o->parent) {
    if (!hwloc_obj_type_is_cache(o->type) || o->attr == nullptr) continue;
    if (o->attr->cache.depth != depth) continue;
    if (o->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION) continue;
    return static_cast<int64_t>(o->attr->cache.size);
  }
  return 0;
}

// Keeps a reported cache size when it is plausible for one instance of that level;
// otherwise records the default. A VM may report nothing, or the host's total L3.
int64_t checked_cache(const char* name, int64_t reported, int64_t lo, int64_t hi, int64_t fallback,
                      std::vector<std::string>& assumed) {
  if (reported >= lo && reported <= hi) return reported;
  std::string what = reported <= 0 ? std::string(name) + " size unknown"
                                   : std::string(name) + " size " + bytes_text(reported) +
                                         " reported, implausible for one cache";
  assumed.push_back(what + ": assumed " + bytes_text(fallback));
  return fallback;
}

}  // namespace

Result<CpuTopology> probe_topology() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) {
    return Error(Code::kUnsupported) << "hwloc_topology_init failed: " << std::strerror(errno);
  }
  TopologyPtr topo(raw);
  if (hwloc_topology_load(topo.get()) != 0) {
    return Error(Code::kUnsupported) << "hwloc_topology_load failed: " << std::strerror(errno);
  }

  CpuTopology t;
  BitmapPtr set = allowed_cpus(topo.get(), t.assumed);
  if (!set) return Error(Code::kOutOfMemory) << "hwloc_bitmap_alloc failed";
  // Drop what this process cannot run on; the counts below also test each object
  // against the set, so a refused restrict changes nothing.
  hwloc_topology_restrict(topo.get(), set.get(), 0);

  t.logical_cpus = hwloc_bitmap_weight(set.get());
  for (hwloc_obj_t core = hwloc_get_next_obj_by_type(topo.get(), HWLOC_OBJ_CORE, nullptr); core != nullptr;
       core = hwloc_get_next_obj_by_type(topo.get(), HWLOC_OBJ_CORE, core)) {
    if (core->cpuset == nullptr) continue;
    BitmapPtr mine(hwloc_bitmap_alloc());
    if (!mine) return Error(Code::kOutOfMemory) << "hwloc_bitmap_alloc failed";
    hwloc_bitmap_and(mine.get(), core->cpuset, set.get());
    const int first = hwloc_bitmap_first(mine.get());
    if (first >= 0) t.core_first_pu.push_back(first);
  }
  if (t.core_first_pu.empty()) {
    for (int pu = hwloc_bitmap_first(set.get()); pu >= 0; pu = hwloc_bitmap_next(set.get(), pu)) {
      t.core_first_pu.push_back(pu);
    }
    t.assumed.push_back("cores unknown: assumed one core per logical cpu");
  }
  t.physical_cores = static_cast<int>(t.core_first_pu.size());
  if (t.logical_cpus < t.physical_cores) t.logical_cpus = t.physical_cores;

  t.packages = count_meeting(topo.get(), HWLOC_OBJ_PACKAGE, set.get());
  if (t.packages <= 0) {
    t.packages = 1;
    t.assumed.push_back("packages unknown: assumed 1");
  }
  t.numa_nodes = count_meeting(topo.get(), HWLOC_OBJ_NUMANODE, set.get());
  if (t.numa_nodes <= 0) {
    t.numa_nodes = 1;
    t.assumed.push_back("NUMA nodes unknown: assumed 1");
  }

  // Caches of the first allowed core; the bounds bracket every x86/Arm part shipped so
  // far for one instance (the largest L3 slice, a 3D V-Cache CCD, is 96 MiB).
  hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topo.get(), static_cast<unsigned>(t.core_first_pu[0]));
  t.l1d_bytes = checked_cache("L1d", pu ? cache_above(pu, 1) : 0, 4 * kKiB, 1 * kMiB, 32 * kKiB, t.assumed);
  t.l2_bytes = checked_cache("L2", pu ? cache_above(pu, 2) : 0, 64 * kKiB, 64 * kMiB, 1 * kMiB, t.assumed);
  t.l3_bytes = checked_cache("L3", pu ? cache_above(pu, 3) : 0, 1 * kMiB, 256 * kMiB, 32 * kMiB, t.assumed);
  return t;
}

std::string describe(const CpuTopology& t) {
  std::ostringstream os;
  auto plural = [](int n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  std::vector<int> sorted = t.core_first_pu;
  std::sort(sorted.begin(), sorted.end());
  os << plural(t.packages, "package") << ", " << plural(t.numa_nodes, "NUMA node") << ", "
     << plural(t.physical_cores, "core") << " (cpus " << ranges_text(sorted) << "), "
     << plural(t.logical_cpus, "logical cpu") << "; L1d " << bytes_text(t.l1d_bytes) << ", L2 "
     << bytes_text(t.l2_bytes) << ", L3 " << bytes_text(t.l3_bytes);
  if (!t.assumed.empty()) {
    os << "; assumed: ";
    for (size_t i = 0; i < t.assumed.size(); ++i) os << (i ? "; " : "") << t.assumed[i];
  }
  return os.str();
}

}  // namespace tandem::cpu
