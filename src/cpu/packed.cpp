// pack_matrix and the activation formats of the packed kernels (plain C++: this file
// runs on any x86-64; the kernels are in packed_*_avx512.cpp).
#include "cpu/packed.h"

#include <sys/mman.h>
#include <tbb/parallel_for.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/check.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/numa.h"
#include "cpu/packed_kernels.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {
namespace {

// Whether block type B has a min (Q4_1, Q5_1: x = d * q + m).
template <typename B>
constexpr bool kHasMin = requires(const B& b) { b.m; };

// The f16 fields of one block column: d of each of the 16 source blocks (zero for
// missing rows), then, for types with a min, m of each. Returns the bytes written.
template <typename B>
size_t pack_scales(const void* const rows[kPackRows], int64_t b, std::byte* dst) {
  auto* d = reinterpret_cast<uint16_t*>(dst);
  for (int r = 0; r < kPackRows; ++r) {
    const B* blk = rows[r] != nullptr ? static_cast<const B*>(rows[r]) + b : nullptr;
    d[r] = blk != nullptr ? blk->d : uint16_t{0};
    if constexpr (kHasMin<B>) d[kPackRows + r] = blk != nullptr ? blk->m : uint16_t{0};
  }
  return (kHasMin<B> ? 2 : 1) * 2 * kPackRows;
}

// One block column of a group: pack_scales, then the 4-byte chunks of qs (chunk j,
// lane r = row r's qs[4j .. 4j+3] ^ flip).
template <typename B>
void pack_legacy_group(const void* const rows[kPackRows], int64_t cols, std::byte* dst, uint8_t flip) {
  constexpr int kQs = sizeof(B::qs);
  const uint32_t flip4 = flip * 0x01010101u;
  const int64_t nb = cols / 32;
  for (int64_t b = 0; b < nb; ++b) {
    std::byte* q = dst + pack_scales<B>(rows, b, dst);
    for (int r = 0; r < kPackRows; ++r) {
      const B* blk = rows[r] != nullptr ? static_cast<const B*>(rows[r]) + b : nullptr;
      for (int j = 0; j < kQs / 4; ++j) {
        uint32_t v = 0;
        if (blk != nullptr) std::memcpy(&v, blk->qs + 4 * j, 4);
        v ^= flip4;
        std::memcpy(q + 64 * j + 4 * r, &v, 4);
      }
    }
    dst = q + kPackRows * kQs;
  }
}

// Q5_0 / Q5_1: pack_scales and the nibbles as Q4_0 / Q4_1, then per row 4 bytes of the
// 5th bits regrouped so that one 16-bit shift and a mask put them at bit 4
// (packed_kernels.h).
template <typename B>
void pack_q5_group(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  const int64_t nb = cols / 32;
  for (int64_t b = 0; b < nb; ++b) {
    auto* q = reinterpret_cast<uint8_t*>(dst + pack_scales<B>(rows, b, dst));
    uint8_t* h = q + kPackRows * 16;
    for (int r = 0; r < kPackRows; ++r) {
      B blk{};
      if (rows[r] != nullptr) std::memcpy(&blk, static_cast<const B*>(rows[r]) + b, sizeof(blk));
      uint32_t qh;
      std::memcpy(&qh, blk.qh, 4);
      for (int j = 0; j < 4; ++j) std::memcpy(q + 64 * j + 4 * r, blk.qs + 4 * j, 4);
      for (int k = 0; k < 4; ++k) {
        uint8_t v = 0;
        for (int j = 0; j < 4; ++j) {
          v |= static_cast<uint8_t>(((qh >> (4 * j + k)) & 1u) << j);
          v |= static_cast<uint8_t>(((qh >> (16 + 4 * j + k)) & 1u) << (4 + j));
        }
        h[4 * r + k] = v;
      }
    }
    dst = reinterpret_cast<std::byte*>(h + 64);
  }
}

}  // namespace


// An AVX-512 CPU without VNNI (Skylake-SP/X) runs the AVX2 packed kernels: the same
// layouts, and vpmaddubsw/vpmaddwd on ymm beat its row-major AVX-512 kernels (which fall
// back to the AVX2 ones without VNNI anyway, gemv_select.cpp).
namespace {
bool avx2_kernels_on(Isa isa, const CpuFeatures& f) {
  return isa == Isa::kAvx2 || (isa == Isa::kAvx512 && !f.avx512_vnni);
}
}  // namespace

bool packable(DType t, Isa isa, const CpuFeatures& f) {
  if (isa == Isa::kAvx512 && !isa_supported(isa, f)) return false;
  if (avx2_kernels_on(isa, f)) return packable_avx2(t, f);
  if (isa != Isa::kAvx512) return false;
  switch (t) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

bool packable(DType t, Isa isa) { return packable(t, isa, cpu_features()); }

PackedGemmFn select_packed_gemm(DType t, Isa isa) { return select_packed_gemm(t, isa, cpu_features()); }

PackedGemmFn select_packed_gemm(DType t, Isa isa, const CpuFeatures& f) {
  if (!packable(t, isa, f)) return nullptr;
  if (avx2_kernels_on(isa, f)) return select_packed_gemm_avx2(t, f.avx_vnni);
  switch (t) {
    case DType::kQ4_0: return gemm_q4_0x16_avx512vnni;
    case DType::kQ4_1: return gemm_q4_1x16_avx512vnni;
    case DType::kQ5_0: return gemm_q5_0x16_avx512vnni;
    case DType::kQ5_1: return gemm_q5_1x16_avx512vnni;
    case DType::kQ8_0: return gemm_q8_0x16_avx512vnni;
    case DType::kQ2_K: return gemm_q2_kx16_avx512vnni;
    case DType::kQ3_K: return gemm_q3_kx16_avx512vnni;
    case DType::kQ4_K: return gemm_q4_kx16_avx512vnni;
    case DType::kQ5_K: return gemm_q5_kx16_avx512vnni;
    case DType::kQ6_K: return gemm_q6_kx16_avx512vnni;
    default: return nullptr;
  }
}

size_t packed_group_bytes(DType t, int64_t cols) {
  switch (t) {
    case DType::kQ4_0: return static_cast<size_t>(cols / 32) * kPackRows * sizeof(BlockQ4_0);
    case DType::kQ4_1: return static_cast<size_t>(cols / 32) * kPackRows * sizeof(BlockQ4_1);
    case DType::kQ5_0: return static_cast<size_t>(cols / 32) * kPackRows * sizeof(BlockQ5_0);
    case DType::kQ5_1: return static_cast<size_t>(cols / 32) * kPackRows * sizeof(BlockQ5_1);
    case DType::kQ8_0: return static_cast<size_t>(cols / 32) * kPackRows * sizeof(BlockQ8_0);
    case DType::kQ2_K: return static_cast<size_t>(cols / kQK_K) * PackedQ2K::kBytes;
    case DType::kQ3_K: return static_cast<size_t>(cols / kQK_K) * PackedQ3K::kBytes;
    case DType::kQ4_K: return static_cast<size_t>(cols / kQK_K) * PackedQ4K::kBytes;
    case DType::kQ5_K: return static_cast<size_t>(cols / kQK_K) * PackedQ5K::kBytes;
    case DType::kQ6_K: return static_cast<size_t>(cols / kQK_K) * PackedQ6K::kBytes;
    default: break;
  }
  TANDEM_CHECK(false) << "packed_group_bytes: no packed layout for " << dtype_name(t);
  __builtin_unreachable();
}

// Q8_0 weights are stored + 128 (unsigned) so vpdpbusd can take them as its u8 operand.
void pack_group_q4_0(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_legacy_group<BlockQ4_0>(rows, cols, dst, 0x00);
}
void pack_group_q4_1(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_legacy_group<BlockQ4_1>(rows, cols, dst, 0x00);
}
void pack_group_q8_0(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_legacy_group<BlockQ8_0>(rows, cols, dst, 0x80);
}
void pack_group_q5_0(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_q5_group<BlockQ5_0>(rows, cols, dst);
}
void pack_group_q5_1(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_q5_group<BlockQ5_1>(rows, cols, dst);
}

namespace {

using PackGroupFn = void (*)(const void* const*, int64_t, std::byte*);

PackGroupFn pack_group_fn(DType t) {
  switch (t) {
    case DType::kQ4_0: return pack_group_q4_0;
    case DType::kQ4_1: return pack_group_q4_1;
    case DType::kQ5_0: return pack_group_q5_0;
    case DType::kQ5_1: return pack_group_q5_1;
    case DType::kQ8_0: return pack_group_q8_0;
    case DType::kQ2_K: return pack_group_q2_k;
    case DType::kQ3_K: return pack_group_q3_k;
    case DType::kQ4_K: return pack_group_q4_k;
    case DType::kQ5_K: return pack_group_q5_k;
    case DType::kQ6_K: return pack_group_q6_k;
    default: TANDEM_CHECK(false) << "pack_matrix: no packed layout for " << dtype_name(t);
  }
  return nullptr;
}

// Fills m (shape set, data pointing at m.bytes() bytes) from W, groups in parallel.
void pack_into(const PackRequest& r, PackedMatrix& m) {
  const PackGroupFn pack_group = pack_group_fn(r.type);
  const size_t row_stride = quantized_row_bytes(r.type, r.cols);
  const auto* base = static_cast<const std::byte*>(r.w);
  tbb::parallel_for(int64_t{0}, m.groups, [&](int64_t g) {
    const void* src[kPackRows];
    for (int i = 0; i < kPackRows; ++i) {
      const int64_t row = g * kPackRows + i;
      src[i] = row < r.rows ? base + static_cast<size_t>(row) * row_stride : nullptr;
    }
    pack_group(src, r.cols, m.data + static_cast<size_t>(g) * m.group_bytes);
  });
}

constexpr size_t kMatrixAlign = 4096;

}  // namespace

size_t packed_bytes(DType t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + kPackRows - 1) / kPackRows) * packed_group_bytes(t, cols);
}

Result<std::vector<PackedMatrix>> pack_matrices(std::span<const PackRequest> reqs,
                                                const std::function<void(size_t)>& packed) {
  std::vector<PackedMatrix> out(reqs.size());
  size_t total = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const PackRequest& r = reqs[i];
    TANDEM_CHECK(r.rows > 0 && r.cols > 0 && r.cols % traits(r.type).block_elems == 0)
        << "pack_matrix: " << r.rows << "x" << r.cols << " of " << dtype_name(r.type);
    pack_group_fn(r.type);  // checks the type
    PackedMatrix& m = out[i];
    m.type = r.type;
    m.rows = r.rows;
    m.cols = r.cols;
    m.groups = (r.rows + kPackRows - 1) / kPackRows;
    m.group_bytes = packed_group_bytes(r.type, r.cols);
    total = (total + kMatrixAlign - 1) / kMatrixAlign * kMatrixAlign + m.bytes();
  }
  if (total == 0) return out;
  // Large allocations on 2 MiB boundaries with transparent huge pages asked for: a
  // fault per 2 MiB instead of per 4 KiB while packing, and fewer TLB misses while
  // streaming. aligned_alloc wants a size that is a multiple of the alignment.
  const size_t align = total >= (size_t{8} << 20) ? size_t{2} << 20 : 64;
  const size_t alloc = (total + align - 1) / align * align;
  void* p = std::aligned_alloc(align, alloc);
  if (p == nullptr) {
    Error e(Code::kOutOfMemory);
    e << "packing " << reqs.size() << " matrices (the first " << reqs[0].rows << "x" << reqs[0].cols << " "
      << dtype_name(reqs[0].type) << "): " << total << " bytes";
    return e;
  }
  std::shared_ptr<void> storage(p, [](void* q) { std::free(q); });
  if (align > 64) {
    ::madvise(p, alloc, MADV_HUGEPAGE);
    // Several NUMA nodes: spread the pages over them before packing first touches
    // them (cpu/numa.h). A refusal leaves the default placement, which still works.
    interleave_pages(p, alloc);
  }
  size_t offset = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    offset = (offset + kMatrixAlign - 1) / kMatrixAlign * kMatrixAlign;
    out[i].data = static_cast<std::byte*>(p) + offset;
    out[i].storage = storage;
    offset += out[i].bytes();
    pack_into(reqs[i], out[i]);
    if (packed) packed(i);
  }
  return out;
}

Result<PackedMatrix> pack_matrix(DType t, const void* w, int64_t rows, int64_t cols) {
  const PackRequest r{t, w, rows, cols};
  TANDEM_ASSIGN_OR_RETURN(std::vector<PackedMatrix> m, pack_matrices(std::span<const PackRequest>(&r, 1)));
  return std::move(m[0]);
}

PackedAct packed_act(DType t) {
  switch (t) {
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0: return PackedAct::kQ8_0;
    case DType::kQ4_1:
    case DType::kQ5_1: return PackedAct::kQ8_1;
    default: return PackedAct::kQ8_K;
  }
}

bool packed_act32(DType t) { return packed_act(t) != PackedAct::kQ8_K; }

size_t packed_act_row_bytes(DType t, int64_t cols) {
  return packed_act32(t) ? static_cast<size_t>(cols / 32) * sizeof(ActBlock32)
                         : quantized_row_bytes(DType::kQ8_K, cols);
}

void quantize_packed_act(DType t, const float* x, void* dst, int64_t cols) {
  switch (packed_act(t)) {
    case PackedAct::kQ8_K: quantize_row_ref(DType::kQ8_K, x, dst, cols); return;
    case PackedAct::kQ8_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        BlockQ8_0 q;
        quantize_row_ref(DType::kQ8_0, x + 32 * b, &q, 32);
        ActBlock32& a = static_cast<ActBlock32*>(dst)[b];
        a.d = fp16_to_f32(q.d);
        a.sum = 0;
        for (int i = 0; i < 32; ++i) {
          a.qs[i] = q.qs[i];
          a.sum += q.qs[i];
        }
      }
      return;
    case PackedAct::kQ8_1:
      for (int64_t b = 0; b < cols / 32; ++b) {
        BlockQ8_1 q;
        quantize_row_ref(DType::kQ8_1, x + 32 * b, &q, 32);
        ActBlockQ8_1& a = static_cast<ActBlockQ8_1*>(dst)[b];
        a.d = fp16_to_f32(q.d);
        a.s = fp16_to_f32(q.s);
        std::memcpy(a.qs, q.qs, sizeof(a.qs));
      }
      return;
  }
}

}  // namespace tandem::cpu
