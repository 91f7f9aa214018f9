// The CPU lane: the threads CPU kernels run on and the instruction set they use.
// Launchers take it first (matmul(lane, args)), so nothing is looked up on the way.
#pragma once

#include "cpu/isa.h"
#include "cpu/thread_arena.h"

namespace tandem::cpu {

struct CpuLane {
  Isa isa;                   // the kernels to run; the engine uses runtime_isa()
  const ThreadArena* arena;  // not owned; outlives every call that uses the lane
};

}  // namespace tandem::cpu
