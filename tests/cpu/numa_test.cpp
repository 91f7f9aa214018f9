// interleave_pages: the node count it sees is the topology's, and it interleaves exactly
// where there are several nodes (checked through the kernel's own record of the
// policy in /proc/self/numa_maps); on one node it leaves the pages alone.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "cpu/numa.h"
#include "cpu/topology.h"

namespace tandem {
namespace {

TEST(Numa, InterleavesExactlyWhereThereAreSeveralNodes) {
  auto topo = cpu::probe_topology();
  ASSERT_TRUE(topo) << topo.error().message();
  constexpr size_t kBytes = size_t{8} << 20;
  void* p = std::aligned_alloc(size_t{2} << 20, kBytes);
  ASSERT_NE(p, nullptr);
  const cpu::NumaResult r = cpu::interleave_pages(p, kBytes);
  EXPECT_EQ(r.nodes, topo->numa_nodes);
  if (topo->numa_nodes == 1) {
    EXPECT_EQ(r.placement, cpu::NumaPlacement::kOneNode);
  } else {
    ASSERT_EQ(r.placement, cpu::NumaPlacement::kInterleaved) << r.note;
    std::memset(p, 1, kBytes);  // first touch, after the policy
    // numa_maps: one line per mapping, "<start hex> <policy> ..."; p lies in one whose
    // policy reads "interleave:<nodes>".
    std::ifstream maps("/proc/self/numa_maps");
    ASSERT_TRUE(maps) << "no /proc/self/numa_maps";
    std::string line, policy;
    const auto addr = reinterpret_cast<uintptr_t>(p);
    uintptr_t best = 0;
    while (std::getline(maps, line)) {
      std::istringstream in(line);
      std::string start_hex, pol;
      in >> start_hex >> pol;
      const uintptr_t start = std::stoull(start_hex, nullptr, 16);
      if (start <= addr && start >= best) {
        best = start;
        policy = pol;
      }
    }
    EXPECT_EQ(policy.rfind("interleave", 0), 0u) << policy;
  }
  std::free(p);
}

TEST(Numa, NothingToPlaceIsNoError) {
  const cpu::NumaResult r = cpu::interleave_pages(nullptr, 0);
  EXPECT_NE(r.placement, cpu::NumaPlacement::kFailed);
  EXPECT_TRUE(r.note.empty());
}

}  // namespace
}  // namespace tandem
