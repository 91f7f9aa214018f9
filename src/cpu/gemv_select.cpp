// select_gemv: which row kernel runs for a weight type on an instruction set.
#include "cpu/gemv.h"

#include "core/check.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {
namespace {

template <DType T>
void gemv_ref_rows(const GemvRows& a) {
  TANDEM_CHECK(a.w_stride == quantized_row_bytes(T, a.cols))
      << "reference gemv of " << dtype_name(T) << ": row stride " << a.w_stride
      << " is not the packed row size of " << a.cols << " columns";
  gemv_rows_ref(T, a.w, a.row_begin, a.row_end, a.cols, a.x, a.y);
}

GemvRowsFn avx2_kernel(DType t) {
  switch (t) {
    case DType::kQ8_0: return gemv_q8_0_avx2;
    case DType::kQ4_0: return gemv_q4_0_avx2;
    case DType::kQ5_0: return gemv_q5_0_avx2;
    case DType::kQ4_1: return gemv_q4_1_avx2;
    case DType::kQ5_1: return gemv_q5_1_avx2;
    case DType::kQ2_K: return gemv_q2_k_avx2;
    case DType::kQ3_K: return gemv_q3_k_avx2;
    case DType::kQ4_K: return gemv_q4_k_avx2;
    case DType::kQ5_K: return gemv_q5_k_avx2;
    case DType::kQ6_K: return gemv_q6_k_avx2;
    case DType::kF32: return gemv_f32_avx2;
    case DType::kF16: return gemv_f16_avx2;
    case DType::kBF16: return gemv_bf16_avx2;
    default: return reference_gemv(t);
  }
}

GemvRowsFn avx512_kernel(DType t, bool vnni) {
  switch (t) {
    case DType::kF32: return gemv_f32_avx512;
    case DType::kF16: return gemv_f16_avx512;
    case DType::kBF16: return gemv_bf16_avx512;
    default: break;
  }
  if (!vnni) return avx2_kernel(t);
  switch (t) {
    case DType::kQ8_0: return gemv_q8_0_avx512vnni;
    case DType::kQ4_0: return gemv_q4_0_avx512vnni;
    case DType::kQ5_0: return gemv_q5_0_avx512vnni;
    case DType::kQ4_1: return gemv_q4_1_avx512vnni;
    case DType::kQ5_1: return gemv_q5_1_avx512vnni;
    case DType::kQ2_K: return gemv_q2_k_avx512vnni;
    case DType::kQ3_K: return gemv_q3_k_avx512vnni;
    case DType::kQ4_K: return gemv_q4_k_avx512vnni;
    case DType::kQ5_K: return gemv_q5_k_avx512vnni;
    case DType::kQ6_K: return gemv_q6_k_avx512vnni;
    default: return reference_gemv(t);
  }
}

}  // namespace

GemvRowsFn reference_gemv(DType t) {
  switch (t) {
    case DType::kF32: return gemv_ref_rows<DType::kF32>;
    case DType::kF16: return gemv_ref_rows<DType::kF16>;
    case DType::kBF16: return gemv_ref_rows<DType::kBF16>;
    case DType::kQ4_0: return gemv_ref_rows<DType::kQ4_0>;
    case DType::kQ4_1: return gemv_ref_rows<DType::kQ4_1>;
    case DType::kQ5_0: return gemv_ref_rows<DType::kQ5_0>;
    case DType::kQ5_1: return gemv_ref_rows<DType::kQ5_1>;
    case DType::kQ8_0: return gemv_ref_rows<DType::kQ8_0>;
    case DType::kQ2_K: return gemv_ref_rows<DType::kQ2_K>;
    case DType::kQ3_K: return gemv_ref_rows<DType::kQ3_K>;
    case DType::kQ4_K: return gemv_ref_rows<DType::kQ4_K>;
    case DType::kQ5_K: return gemv_ref_rows<DType::kQ5_K>;
    case DType::kQ6_K: return gemv_ref_rows<DType::kQ6_K>;
    case DType::kQ8_K: return gemv_ref_rows<DType::kQ8_K>;
    default: break;
  }
  TANDEM_CHECK(false) << "gemv: " << dtype_name(t) << " has no dot product";
  __builtin_unreachable();
}

GemvRowsFn select_gemv(DType t, Isa isa, const CpuFeatures& f) {
  TANDEM_CHECK(isa_supported(isa, f)) << "gemv: " << isa_name(isa) << " kernels on a CPU without it";
  switch (isa) {
    case Isa::kScalar: return reference_gemv(t);
    case Isa::kAvx2: return avx2_kernel(t);
    case Isa::kAvx512: return avx512_kernel(t, f.avx512_vnni);
  }
  return reference_gemv(t);
}

GemvRowsFn select_gemv(DType t, Isa isa) { return select_gemv(t, isa, cpu_features()); }

}  // namespace tandem::cpu
