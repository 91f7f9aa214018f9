// GEMV row kernels chosen by weight type and instruction set: y[r] = W[r, :] · x for a
// range of rows, x already converted to the weight type's dot type. The engine's
// matmul picks one kernel per call with select_gemv() and splits rows over threads.
#pragma once

#include "core/dtype.h"
#include "cpu/gemv_kernels.h"
#include "cpu/isa.h"

namespace tandem::cpu {

using GemvRowsFn = void (*)(const GemvRows& a);

// A plain switch. kScalar, and types with no kernel for `isa`, get the reference
// (gemv_rows_ref; it requires w_stride == row_bytes(t, cols)). kAvx512's integer
// kernels use AVX-512 VNNI: where f lacks it, kAvx512 gets the AVX2 integer kernels.
// `isa` must be supported by f (isa_supported); t must have a dot product
// (vec_dot_type).
GemvRowsFn select_gemv(DType t, Isa isa, const CpuFeatures& f);
// The same for this CPU's features (cpu_features()).
GemvRowsFn select_gemv(DType t, Isa isa);

// The reference kernel select_gemv returns for kScalar.
GemvRowsFn reference_gemv(DType t);

}  // namespace tandem::cpu
