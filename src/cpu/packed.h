// Weight matrices re-laid out once, at load, for the packed kernels (AVX-512 VNNI, and
// AVX2 with or without AVX-VNNI: the same layouts).
//
// GGUF stores each row's blocks contiguously, so a kernel that computes 16 rows at once
// reads 16 short streams, gathers 16 scalar f16 scales per block and needs a horizontal
// sum per row. The packed layout interleaves groups of kPackRows = 16 rows block column
// by block column, arranged so that int32/f32 lane r of a zmm is row r of the group:
//
//   group g = rows 16g .. 16g+15 (missing rows of the last group are all-zero blocks),
//   one contiguous run of group_bytes; inside it, block column b after block column
//   b-1. The layout of one block column is per type (packed_kernels.h), e.g. Q4_0:
//   [16 f16 scales][4 x 64 bytes: chunk j holds, in lane r, row r's qs[4j .. 4j+3]].
//
// Packing only moves bytes (and, for some types, adds a constant or splits bit
// fields), so the packed kernels compute the same integer block sums and the same f32
// operations as the reference, block by block in block order: results are bit-identical
// to vec_dot_ref.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "cpu/isa.h"

namespace tandem::cpu {

constexpr int kPackRows = 16;

struct PackedMatrix {
  DType type = DType::kF32;  // the source type
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t groups = 0;        // ceil(rows / kPackRows)
  size_t group_bytes = 0;    // bytes of one group of 16 rows, all columns
  std::byte* data = nullptr;     // groups * group_bytes, 64-byte aligned, inside `storage`
  std::shared_ptr<void> storage;  // owns data's memory (shared by matrices packed together)

  const std::byte* group(int64_t g) const { return data + static_cast<size_t>(g) * group_bytes; }
  size_t bytes() const { return static_cast<size_t>(groups) * group_bytes; }
};

// Whether a packed layout and kernel exist for weights of type t on `isa` with the
// features f: AVX-512 with VNNI, and AVX2 (with or without AVX-VNNI), each the types
// packed.cpp / packed_avx2_select.cpp list; AVX-512 without VNNI runs the AVX2 kernels.
bool packable(DType t, Isa isa, const CpuFeatures& f);
bool packable(DType t, Isa isa);  // this CPU's features

// Re-lays out W ([rows, cols] of type t, row-major, rows of row_bytes(t, cols)).
// Requires packable(t, ...) for some ISA and cols a multiple of t's block size (caller
// bugs: TANDEM_CHECK). kOutOfMemory if the memory cannot be allocated.
Result<PackedMatrix> pack_matrix(DType t, const void* w, int64_t rows, int64_t cols);

// Bytes of W packed (PackedMatrix::bytes() of pack_matrix's result).
size_t packed_bytes(DType t, int64_t rows, int64_t cols);

struct PackRequest {
  DType type = DType::kF32;
  const void* w = nullptr;  // [rows, cols] of type, as pack_matrix takes it
  int64_t rows = 0;
  int64_t cols = 0;
};

// Packs every request into ONE allocation, in request order, each matrix on a 4 KiB
// boundary: a whole model's packed weights sit on 2 MiB transparent huge pages (and
// are spread over NUMA nodes, cpu/numa.h) without rounding each matrix up to 2 MiB,
// so small matrices (an 8B model's 2.4 MB K and V) stream without a TLB miss per
// 4 KiB page too. `packed(i)`, when given, runs after request i is packed (the caller
// can drop its source pages). The matrices share `storage`. Requirements as pack_matrix.
Result<std::vector<PackedMatrix>> pack_matrices(std::span<const PackRequest> reqs,
                                                const std::function<void(size_t)>& packed = {});

}  // namespace tandem::cpu
