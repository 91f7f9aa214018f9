// AVX2 GEMV kernels for plain float weights: F32 (x f32), F16 (x f16), BF16 (x bf16).
// Built with -mavx2 -mfma -mf16c -ffp-contract=off only.
//
// The products are those of the reference (f16 and bf16 products are exact in f32, so
// a fused multiply-add rounds only the sum); they are summed in 32 lanes and then
// across lanes, a different order than the reference's running sum. Everything here
// has internal linkage (see gemv_kernels.h).
//
// Small fixed loops (the four rows, the chunks of a block) carry `#pragma GCC unroll`:
// GCC 12 at -O2 keeps them as loops and passes the vectors through the stack.
#include <immintrin.h>

#include "cpu/gemv_kernels.h"

namespace tandem::cpu {
namespace {

[[gnu::always_inline]] inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 elements at p as f32, for each element type.
struct F32Load {
  using T = float;
  [[gnu::always_inline]] static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  [[gnu::always_inline]] static float load1(const float* p) { return *p; }
};
struct F16Load {
  using T = uint16_t;
  [[gnu::always_inline]] static __m256 load8(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  [[gnu::always_inline]] static float load1(const uint16_t* p) { return _cvtsh_ss(*p); }
};
struct BF16Load {
  using T = uint16_t;
  [[gnu::always_inline]] static __m256 load8(const uint16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  [[gnu::always_inline]] static float load1(const uint16_t* p) {
    const uint32_t bits = static_cast<uint32_t>(*p) << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof(f));
    return f;
  }
};

template <typename L>
[[gnu::always_inline]] inline float dot(const typename L::T* w, const typename L::T* x, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm256_fmadd_ps(L::load8(w + i + 8 * k), L::load8(x + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(L::load8(w + i), L::load8(x + i), acc[0]);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) s += L::load1(w + i) * L::load1(x + i);
  return s;
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

void gemv_f32_avx2(const GemvRows& a) { gemv_float<F32Load>(a); }
void gemv_f16_avx2(const GemvRows& a) { gemv_float<F16Load>(a); }
void gemv_bf16_avx2(const GemvRows& a) { gemv_float<BF16Load>(a); }

}  // namespace tandem::cpu
