#include "cpu/matmul.h"

#include <cstddef>
#include <vector>

#include "core/check.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {

void matmul(const ThreadArena& arena, const MatmulArgs& a) {
  const DType xt = vec_dot_type(a.type);
  const auto xrow = row_bytes(xt, static_cast<uint64_t>(a.cols));
  const auto wrow = row_bytes(a.type, static_cast<uint64_t>(a.cols));
  TANDEM_CHECK(xrow && wrow) << "matmul: " << a.cols << " columns do not fit type "
                             << dtype_name(a.type);
  // x quantized to the dot type: [n_tokens, xrow bytes]
  std::vector<std::byte> xq(static_cast<size_t>(*xrow * a.n_tokens));
  arena.parallel_for(a.n_tokens, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      quantize_row_ref(xt, a.x + t * a.cols, xq.data() + t * *xrow, a.cols);
  });
  const auto* w = static_cast<const std::byte*>(a.w);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, a.cols));
  arena.parallel_for(a.rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      const std::byte* xt_row = xq.data() + t * *xrow;
      float* yt = a.y + t * a.rows;
      for (int64_t r = r0; r < r1; ++r)
        yt[r] = vec_dot_ref(a.type, a.cols, w + r * *wrow, xt_row);
    }
  });
}

}  // namespace tandem::cpu
