#include "cpu/matmul.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <vector>

#include "core/check.h"
#include "cpu/gemv.h"
#include "cpu/packed_kernels.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {
namespace {

constexpr int64_t kGroupRows = 4;           // the kernels' rows per pass
constexpr int64_t kMinChunkBytes = 32768;   // of weights per thread chunk, at least
constexpr int64_t kTileBytes = 64 * 1024;   // of weights all tokens pass over while cached

constexpr int64_t kMinGroupChunkBytes = 65536;  // of packed weights per thread chunk
constexpr int64_t kQuantGrain = 64;               // activation blocks per thread chunk
constexpr int64_t kTokenBlock = 64;               // tokens per pass over a tile of groups
static_assert(kTokenBlock % kActChunk == 0);
constexpr int64_t kGroupTileBytes = 512 * 1024;   // packed weights per tile

// All of `mats` share x, n_tokens, cols and the activation format; each has a packed
// matrix and kernel. One conversion of x, then one parallel pass over the groups of
// every matrix (as one index space).
void matmul_packed(const CpuLane& lane, std::span<const MatmulArgs> mats, std::span<const PackedGemmFn> kernels) {
  const MatmulArgs& a0 = mats[0];
  const ThreadArena& arena = *lane.arena;
  const size_t xrow = packed_act_row_bytes(a0.type, a0.cols);
  const PackedAct act = packed_act(a0.type);
  // 32-element blocks: whole chunks of kActChunk tokens (packed_kernels.h).
  const int64_t x_rows =
      act != PackedAct::kQ8_K ? (a0.n_tokens + kActChunk - 1) / kActChunk * kActChunk : a0.n_tokens;
  std::vector<std::byte> xq(xrow * static_cast<size_t>(x_rows));
  // The lane's own quantizers (the same bytes on every ISA): packed kernels exist for
  // kAvx512 and kAvx2 lanes only.
  const bool avx512 = lane.isa == Isa::kAvx512;
  const auto quantize_q8_k = avx512 ? quantize_q8_k_avx512 : quantize_q8_k_avx2;
  if (act != PackedAct::kQ8_K) {
    const int64_t nb = a0.cols / 32;
    // One token's blocks b0 .. b0+n-1 into their chunk slots (ActBlock32 or ActBlockQ8_1).
    const auto quantize_run = [&](const float* x, int64_t t, int64_t b0, int64_t n) {
      const int64_t first = (t / kActChunk * nb + b0) * kActChunk + t % kActChunk;
      if (act == PackedAct::kQ8_0)
        (avx512 ? quantize_act32_avx512 : quantize_act32_avx2)(
            x, reinterpret_cast<ActBlock32*>(xq.data()) + first, n, kActChunk);
      else
        (avx512 ? quantize_act32_q8_1_avx512 : quantize_act32_q8_1_avx2)(
            x, reinterpret_cast<ActBlockQ8_1*>(xq.data()) + first, n, kActChunk);
    };
    arena.parallel_for(a0.n_tokens * nb, kQuantGrain, [&](int64_t i0, int64_t i1) {
      while (i0 < i1) {  // runs of blocks inside one token
        const int64_t t = i0 / nb, b0 = i0 % nb, b1 = std::min(nb, b0 + (i1 - i0));
        quantize_run(a0.x + t * a0.cols + b0 * 32, t, b0, b1 - b0);
        i0 += b1 - b0;
      }
    });
  } else {  // Q8_K rows
    const int64_t nb = a0.cols / kQK_K;
    arena.parallel_for(a0.n_tokens * nb, kQuantGrain / 8, [&](int64_t i0, int64_t i1) {
      while (i0 < i1) {  // runs of blocks inside one token
        const int64_t t = i0 / nb, b0 = i0 % nb, b1 = std::min(nb, b0 + (i1 - i0));
        quantize_q8_k(a0.x + t * a0.cols + b0 * kQK_K,
                      reinterpret_cast<BlockQ8_K*>(xq.data() + t * xrow) + b0, b1 - b0);
        i0 += b1 - b0;
      }
    });
  }
  std::vector<int64_t> first(mats.size() + 1, 0);  // first global group of each matrix
  size_t total_bytes = 0;
  for (size_t i = 0; i < mats.size(); ++i) {
    first[i + 1] = first[i] + mats[i].packed->groups;
    total_bytes += mats[i].packed->bytes();
  }
  const int64_t n_groups = first.back();
  const int64_t avg_group = std::max<int64_t>(1, static_cast<int64_t>(total_bytes) / n_groups);
  const int64_t grain = std::max<int64_t>(1, kMinGroupChunkBytes / avg_group);
  // Many tokens: a tile of groups stays in cache while blocks of tokens (whose
  // activations stay in L2) pass over it.
  // One token: the pass is memory-bound, so each thread takes one contiguous share
  // (one long stream for the prefetchers). Many tokens: dynamic, for balance.
  const auto run = [&](const std::function<void(int64_t, int64_t)>& fn) {
    if (a0.n_tokens == 1) arena.parallel_for_static(n_groups, grain, fn);
    else arena.parallel_for(n_groups, grain, fn);
  };
  run([&](int64_t g0, int64_t g1) {
    for (size_t i = 0; i < mats.size() && g0 < g1; ++i) {
      if (g0 >= first[i + 1]) continue;
      const int64_t end = std::min(g1, first[i + 1]);
      const PackedMatrix& p = *mats[i].packed;
      const int64_t tile = a0.n_tokens <= kTokenBlock
                               ? end - g0
                               : std::max<int64_t>(1, kGroupTileBytes / static_cast<int64_t>(p.group_bytes));
      for (int64_t gt = g0; gt < end; gt += tile)
        for (int64_t t0 = 0; t0 < a0.n_tokens; t0 += kTokenBlock) {
          PackedGemm g;
          g.w = &p;
          g.x = xq.data() + static_cast<size_t>(t0) * xrow;  // t0: a multiple of kActChunk
          g.x_stride = xrow;
          g.n_tokens = std::min(kTokenBlock, a0.n_tokens - t0);
          g.group_begin = gt - first[i];
          g.group_end = std::min(end, gt + tile) - first[i];
          g.y = mats[i].y + t0 * mats[i].rows;
          g.y_stride = mats[i].rows;
          kernels[i](g);
        }
      g0 = end;
    }
  });
}

void check_packed(const MatmulArgs& a) {
  const PackedMatrix& p = *a.packed;
  TANDEM_CHECK(p.type == a.type && p.rows == a.rows && p.cols == a.cols)
      << "matmul: packed " << dtype_name(p.type) << " " << p.rows << "x" << p.cols << " given for "
      << dtype_name(a.type) << " " << a.rows << "x" << a.cols;
}

}  // namespace

void matmul(const CpuLane& lane, const MatmulArgs& a) {
  TANDEM_CHECK(lane.arena != nullptr) << "matmul: lane without threads";
  if (a.packed != nullptr) {
    if (const PackedGemmFn k = select_packed_gemm(a.type, lane.isa)) {
      check_packed(a);
      matmul_packed(lane, {&a, 1}, {&k, 1});
      return;
    }
  }
  const DType xt = vec_dot_type(a.type);
  const auto xrow = row_bytes(xt, static_cast<uint64_t>(a.cols));
  const auto wrow = row_bytes(a.type, static_cast<uint64_t>(a.cols));
  TANDEM_CHECK(xrow && wrow) << "matmul: " << a.cols << " columns do not fit type "
                             << dtype_name(a.type);
  const ThreadArena& arena = *lane.arena;
  // x quantized to the dot type: [n_tokens, xrow bytes]
  std::vector<std::byte> xq(static_cast<size_t>(*xrow * a.n_tokens));
  arena.parallel_for(a.n_tokens, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      quantize_row_ref(xt, a.x + t * a.cols, xq.data() + t * *xrow, a.cols);
  });

  const GemvRowsFn gemv = select_gemv(a.type, lane.isa);
  const auto row_bytes_w = static_cast<int64_t>(*wrow);
  const int64_t n_groups = (a.rows + kGroupRows - 1) / kGroupRows;
  const int64_t group_bytes = std::max<int64_t>(1, kGroupRows * row_bytes_w);
  const int64_t grain = std::max<int64_t>(1, kMinChunkBytes / group_bytes);
  // Several tokens: rows in tiles whose weights stay in cache while every token uses
  // them. One token: the whole chunk at once.
  const int64_t tile_rows =
      a.n_tokens == 1 ? a.rows : kGroupRows * std::max<int64_t>(1, kTileBytes / group_bytes);
  arena.parallel_for(n_groups, grain, [&](int64_t g0, int64_t g1) {
    const int64_t r_end = std::min(a.rows, g1 * kGroupRows);
    for (int64_t r0 = g0 * kGroupRows; r0 < r_end; r0 += tile_rows) {
      const int64_t r1 = std::min(r_end, r0 + tile_rows);
      for (int64_t t = 0; t < a.n_tokens; ++t) {
        GemvRows g;
        g.w = a.w;
        g.w_stride = static_cast<size_t>(row_bytes_w);
        g.x = xq.data() + t * *xrow;
        g.cols = a.cols;
        g.row_begin = r0;
        g.row_end = r1;
        g.y = a.y + t * a.rows;
        gemv(g);
      }
    }
  });
}

void matmul_shared_input(const CpuLane& lane, std::span<const MatmulArgs> mats) {
  TANDEM_CHECK(!mats.empty()) << "matmul_shared_input of no matrices";
  const MatmulArgs& a0 = mats[0];
  std::vector<PackedGemmFn> kernels;
  for (const MatmulArgs& a : mats) {
    TANDEM_CHECK(a.x == a0.x && a.n_tokens == a0.n_tokens && a.cols == a0.cols)
        << "matmul_shared_input: matrices with different inputs";
    const PackedGemmFn k = a.packed != nullptr ? select_packed_gemm(a.type, lane.isa) : nullptr;
    if (k == nullptr || packed_act(a.type) != packed_act(a0.type)) {  // no shared packed path: one at a time
      for (const MatmulArgs& m : mats) matmul(lane, m);
      return;
    }
    check_packed(a);
    kernels.push_back(k);
  }
  matmul_packed(lane, mats, kernels);
}

}  // namespace tandem::cpu
