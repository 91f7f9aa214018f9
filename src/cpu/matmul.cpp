#include "cpu/matmul.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "core/check.h"
#include "cpu/gemv.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {
namespace {

constexpr int64_t kGroupRows = 4;           // the kernels' rows per pass
constexpr int64_t kMinChunkBytes = 32768;   // of weights per thread chunk, at least
constexpr int64_t kTileBytes = 64 * 1024;   // of weights all tokens pass over while cached

}  // namespace

void matmul(const CpuLane& lane, const MatmulArgs& a) {
  TANDEM_CHECK(lane.arena != nullptr) << "matmul: lane without threads";
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

}  // namespace tandem::cpu
