// Which packed kernels the Isa::kAvx2 lane has (packed_kernels.h). Plain C++: runs on
// any x86-64; the kernels are in packed_avx2.cpp and packed_avxvnni.cpp.
#include "cpu/packed_kernels.h"

namespace tandem::cpu {

bool packable_avx2(DType t, const CpuFeatures& f) {
  if (!isa_supported(Isa::kAvx2, f)) return false;
  return select_packed_gemm_avx2(t, false) != nullptr;
}

PackedGemmFn select_packed_gemm_avx2(DType t, bool avx_vnni) {
  switch (t) {
    case DType::kQ4_0: return avx_vnni ? gemm_q4_0x16_avxvnni : gemm_q4_0x16_avx2;
    case DType::kQ4_1: return avx_vnni ? gemm_q4_1x16_avxvnni : gemm_q4_1x16_avx2;
    case DType::kQ5_0: return avx_vnni ? gemm_q5_0x16_avxvnni : gemm_q5_0x16_avx2;
    case DType::kQ5_1: return avx_vnni ? gemm_q5_1x16_avxvnni : gemm_q5_1x16_avx2;
    case DType::kQ8_0: return avx_vnni ? gemm_q8_0x16_avxvnni : gemm_q8_0x16_avx2;
    case DType::kQ2_K: return avx_vnni ? gemm_q2_kx16_avxvnni : gemm_q2_kx16_avx2;
    case DType::kQ3_K: return avx_vnni ? gemm_q3_kx16_avxvnni : gemm_q3_kx16_avx2;
    case DType::kQ4_K: return avx_vnni ? gemm_q4_kx16_avxvnni : gemm_q4_kx16_avx2;
    case DType::kQ5_K: return avx_vnni ? gemm_q5_kx16_avxvnni : gemm_q5_kx16_avx2;
    case DType::kQ6_K: return avx_vnni ? gemm_q6_kx16_avxvnni : gemm_q6_kx16_avx2;
    default: return nullptr;
  }
}

}  // namespace tandem::cpu
