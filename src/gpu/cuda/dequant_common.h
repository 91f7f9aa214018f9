// What the per-block dequantizers (dequant_legacy.h, dequant_k.h) share, written once
// for two compilers: under nvcc every function is __host__ __device__ (the device pass
// uses the hardware conversions and wide loads), under a plain C++ compiler they are
// ordinary inline functions and need no CUDA header. So tests/gpu_host runs the very
// functors the GEMV kernels run and compares them with cpu::dequantize_row_ref, bit for bit.
//
// A functor dequantizes one 32-weight piece of a block:
//   struct DequantX {
//     using Block = ...;                    // core/quant_blocks.h layout
//     static constexpr int kSubs = ...;     // 32-weight pieces per block (1, or 8 for K-quants)
//     void operator()(const Block& b, int sub, float (&v)[32]) const;  // sub < kSubs
//   };
// v[j] is element 32 * sub + j of the block, with the same float operations, in the
// same order, as the CPU reference (no fused multiply-add: see fmul).
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define TANDEM_HD __host__ __device__ __forceinline__
#define TANDEM_UNROLL _Pragma("unroll")
#else
#define TANDEM_HD inline
#define TANDEM_UNROLL
#endif

#include "core/check.h"  // the host path's alignment check
#include "core/fp16.h"   // the host path's conversions

namespace tandem::gpu::dequant {

// IEEE half bits to f32 (exact: every half is an f32). The host path is core/fp16.h's.
TANDEM_HD float half_to_f32(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(h));
#else
  return ::tandem::fp16_to_f32(h);
#endif
}

// bfloat16 bits to f32: the top half of the f32's bits.
TANDEM_HD float bf16_to_f32(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
#else
  return ::tandem::bf16_to_f32(h);
#endif
}

// a * b rounded on its own: nvcc fuses `a * b - c` into one FMA by default, the CPU
// reference (built with -ffp-contract=off) does not; __fmul_rn is never fused. For the
// types here every scale * quant product is exact in f32 (at most 11 + 7 + 6 significant
// bits), so a fused one would round the same; this keeps that true by construction.
TANDEM_HD float fmul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// kWords little-endian u32 from p. kAlign is the alignment p has when the block array
// starts on a 16-byte boundary (the launcher checks that): the device reads 16, 8, 4
// or 2 bytes at a time accordingly. The host path checks that promise, so the host test
// (whose blocks start 16-byte aligned) catches an offset that would fault on the GPU.
template <int kAlign, int kWords>
TANDEM_HD void load_words(const uint8_t* p, uint32_t (&out)[kWords]) {
  static_assert(kAlign % 2 == 0, "every block keeps its halves 2-byte aligned");
#ifdef __CUDA_ARCH__
  if constexpr (kAlign % 16 == 0 && kWords % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kWords / 4; ++i) {
      const uint4 q = reinterpret_cast<const uint4*>(p)[i];
      out[4 * i] = q.x;
      out[4 * i + 1] = q.y;
      out[4 * i + 2] = q.z;
      out[4 * i + 3] = q.w;
    }
  } else if constexpr (kAlign % 8 == 0 && kWords % 2 == 0) {
#pragma unroll
    for (int i = 0; i < kWords / 2; ++i) {
      const uint2 q = reinterpret_cast<const uint2*>(p)[i];
      out[2 * i] = q.x;
      out[2 * i + 1] = q.y;
    }
  } else if constexpr (kAlign % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kWords; ++i) out[i] = reinterpret_cast<const uint32_t*>(p)[i];
  } else {
    const auto* h = reinterpret_cast<const uint16_t*>(p);
#pragma unroll
    for (int i = 0; i < kWords; ++i)
      out[i] = static_cast<uint32_t>(h[2 * i]) | (static_cast<uint32_t>(h[2 * i + 1]) << 16);
  }
#else
  TANDEM_CHECK(reinterpret_cast<uintptr_t>(p) % kAlign == 0)
      << "a " << kAlign << "-byte aligned load at " << static_cast<const void*>(p);
  std::memcpy(out, p, sizeof(out));
#endif
}

// Byte k (0..3) of w.
TANDEM_HD uint32_t byte_of(uint32_t w, int k) { return (w >> (8 * k)) & 0xffu; }

}  // namespace tandem::gpu::dequant
