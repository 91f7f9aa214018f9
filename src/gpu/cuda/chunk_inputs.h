// Where a chunk's inputs lie on the device and in the CUDA executor's pinned staging
// buffer, so that one cudaMemcpyAsync moves them all. Plain C++ (no CUDA header), so
// tests/gpu_host checks it with no GPU.
//
// The memory plan lays the activation slots out as ActivationSlots (gpu/executor.h)
// says: positions, table_start, n_ctx, segments, block_tables, x, each at the previous
// one's offset + align_up(bytes), in one allocation. That run is the region
//   [positions | table_start | n_ctx | segments | block_tables | x [max_batch, n_embd]]
// and the staging buffer starts with a mirror of it (the same offsets from its start).
// A chunk of n rows writes its indices, segments and tables and x's first n rows into
// the mirror and copies bytes [0, copy_bytes(n)) of it: the parts before x whole, the
// entries past the chunk's tokens and sequences included (stale, never read), then x's
// n rows. The region's fixed addresses are what a CUDA graph's kernels keep reading.
// A chunk with no layers to run (the head alone) copies x's rows only.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>

#include "core/status.h"
#include "gpu/allocator.h"  // align_up
#include "gpu/executor.h"

namespace tandem::gpu {

struct ChunkInputs {
  int32_t alloc = -1;        // the allocation holding the region
  uint64_t base = 0;         // the region's offset in it (positions' offset)
  // Offsets from the region's start, on the device and in the staging mirror:
  uint64_t positions = 0;    // i32 [max_batch]
  uint64_t table_start = 0;  // i32 [max_batch]
  uint64_t n_ctx = 0;        // i32 [max_batch]
  uint64_t segments = 0;     // i32 [max_seqs, 3]
  uint64_t block_tables = 0; // i32 [max_seqs, blocks_per_seq]
  uint64_t x = 0;            // f32 [max_batch, n_embd]
  uint64_t x_row_bytes = 0;  // n_embd * 4
  uint64_t bytes = 0;        // the whole region: x + max_batch rows

  // Bytes from the region's start that one copy moves for a chunk of n rows with layers.
  uint64_t copy_bytes(int64_t n) const { return x + static_cast<uint64_t>(n) * x_row_bytes; }
};

// The region of d's activation slots; kInvalidArgument naming the first slot that is
// absent, in another allocation, or not where the order above puts it. Assumes
// check_executor_desc(d) passed (every slot present and large enough).
inline Result<ChunkInputs> chunk_inputs_layout(const ExecutorDesc& d) {
  const ActivationSlots& a = d.act;
  struct Part {
    const DeviceSlot* slot;
    const char* name;
  };
  const Part parts[] = {{&a.positions, "positions"},       {&a.table_start, "table_start"}, {&a.n_ctx, "n_ctx"},
                        {&a.segments, "segments"},         {&a.block_tables, "block_tables"}, {&a.x, "x"}};
  ChunkInputs c;
  c.alloc = a.positions.alloc;
  c.base = a.positions.offset;
  uint64_t* offsets[] = {&c.positions, &c.table_start, &c.n_ctx, &c.segments, &c.block_tables, &c.x};
  uint64_t at = c.base;
  for (size_t i = 0; i < std::size(parts); ++i) {
    const DeviceSlot& s = *parts[i].slot;
    if (!s.present() || s.alloc != c.alloc || s.offset != at)
      return Error(Code::kInvalidArgument)
             << "CUDA executor: the chunk inputs must lie in one allocation in the order positions, table_start, "
                "n_ctx, segments, block_tables, x, each 256-aligned after the previous one: "
             << parts[i].name << " is "
             << (s.present() ? "at +" + std::to_string(s.offset) + " of allocation " + std::to_string(s.alloc)
                             : std::string("absent"))
             << ", expected +" << at << " of allocation " << c.alloc;
    *offsets[i] = at - c.base;
    at += align_up(s.bytes);
  }
  c.x_row_bytes = static_cast<uint64_t>(d.model.n_embd) * sizeof(float);
  c.bytes = c.x + static_cast<uint64_t>(a.max_batch) * c.x_row_bytes;
  return c;
}

}  // namespace tandem::gpu
