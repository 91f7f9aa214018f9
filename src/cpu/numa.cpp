#include "cpu/numa.h"

#include <hwloc.h>

#include <cerrno>
#include <cstring>

namespace tandem::cpu {
namespace {

// The topology and the nodeset of the nodes whose CPUs this process may use; read once
// and never changed after (so shared by every caller without locking).
struct Nodes {
  hwloc_topology_t topo = nullptr;
  hwloc_bitmap_t nodeset = nullptr;
  int count = 1;

  Nodes() {
    if (hwloc_topology_init(&topo) != 0) {
      topo = nullptr;
      return;
    }
    if (hwloc_topology_load(topo) != 0) return;
    hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
    nodeset = hwloc_bitmap_alloc();
    if (cpus == nullptr || nodeset == nullptr) {
      hwloc_bitmap_free(cpus);
      return;
    }
    if (hwloc_get_cpubind(topo, cpus, HWLOC_CPUBIND_PROCESS) != 0 || hwloc_bitmap_iszero(cpus))
      hwloc_bitmap_copy(cpus, hwloc_topology_get_allowed_cpuset(topo));
    for (hwloc_obj_t n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, nullptr); n != nullptr;
         n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n)) {
      if (n->cpuset != nullptr && hwloc_bitmap_intersects(n->cpuset, cpus)) hwloc_bitmap_set(nodeset, n->os_index);
    }
    hwloc_bitmap_free(cpus);
    count = hwloc_bitmap_weight(nodeset);
    if (count < 1) count = 1;
  }
  ~Nodes() {
    hwloc_bitmap_free(nodeset);
    if (topo != nullptr) hwloc_topology_destroy(topo);
  }
  Nodes(const Nodes&) = delete;
  Nodes& operator=(const Nodes&) = delete;
};

const Nodes& nodes() {
  static const Nodes n;
  return n;
}

}  // namespace

NumaResult interleave_pages(void* p, size_t bytes) {
  const Nodes& n = nodes();
  NumaResult r;
  r.nodes = n.count;
  if (n.count < 2 || bytes == 0) return r;
  if (hwloc_set_area_membind(n.topo, p, bytes, n.nodeset, HWLOC_MEMBIND_INTERLEAVE, HWLOC_MEMBIND_BYNODESET) != 0) {
    r.placement = NumaPlacement::kFailed;
    r.note = std::string("hwloc_set_area_membind(interleave): ") + std::strerror(errno);
    return r;
  }
  r.placement = NumaPlacement::kInterleaved;
  return r;
}

}  // namespace tandem::cpu
