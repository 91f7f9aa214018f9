// AVX-512 GEMV kernels for plain float weights: F32 (x f32), F16 (x f16), BF16 (x bf16).
// Built with the AVX-512 F/BW/VL/DQ flags, -mfma -mf16c and -ffp-contract=off only.
//
// The products are those of the reference (f16 and bf16 products are exact in f32, so
// a fused multiply-add rounds only the sum); they are summed in 64 lanes and then
// across lanes, a different order than the reference's running sum. The row's tail
// (fewer than 16 elements) is read with masked loads. Everything here has internal
// linkage (see gemv_kernels.h).
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "cpu/gemv_kernels.h"

namespace tandem::cpu {
namespace {

// 16 elements at p (only the lanes in `m`, the rest 0) as f32, for each element type.
[[gnu::always_inline]] inline __m256i load256(const uint16_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

struct F32Load {
  using T = float;
  [[gnu::always_inline]] static __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
  [[gnu::always_inline]] static __m512 load16(const float* p, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, p);
  }
};
struct F16Load {
  using T = uint16_t;
  [[gnu::always_inline]] static __m512 load16(const uint16_t* p) { return _mm512_cvtph_ps(load256(p)); }
  [[gnu::always_inline]] static __m512 load16(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct BF16Load {
  using T = uint16_t;
  [[gnu::always_inline]] static __m512 widen(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
  }
  [[gnu::always_inline]] static __m512 load16(const uint16_t* p) { return widen(load256(p)); }
  [[gnu::always_inline]] static __m512 load16(const uint16_t* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
};

template <typename L>
[[gnu::always_inline]] inline float dot(const typename L::T* w, const typename L::T* x, int64_t n) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm512_fmadd_ps(L::load16(w + i + 16 * k), L::load16(x + i + 16 * k), acc[k]);
  for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(L::load16(w + i), L::load16(x + i), acc[0]);
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc[1] = _mm512_fmadd_ps(L::load16(w + i, m), L::load16(x + i, m), acc[1]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

template <typename L>
void gemv_float(const GemvRows& a) {
  using T = typename L::T;
  const auto* base = static_cast<const uint8_t*>(a.w);
  const T* x = static_cast<const T*>(a.x);  // [cols]
  for (int64_t r = a.row_begin; r < a.row_end; ++r)
    a.y[r] = dot<L>(reinterpret_cast<const T*>(base + static_cast<size_t>(r) * a.w_stride), x, a.cols);
}

}  // namespace

void gemv_f32_avx512(const GemvRows& a) { gemv_float<F32Load>(a); }
void gemv_f16_avx512(const GemvRows& a) { gemv_float<F16Load>(a); }
void gemv_bf16_avx512(const GemvRows& a) { gemv_float<BF16Load>(a); }

}  // namespace tandem::cpu
