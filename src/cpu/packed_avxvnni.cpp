// AVX-VNNI kernels for packed Q4_0, Q8_0, Q4_K and Q6_K weights (256-bit VEX vpdpbusd;
// the bodies: packed_avx2_inl.h). Built with -mavx2 -mfma -mf16c -mavxvnni
// -ffp-contract=off only: for CPUs with AVX-VNNI (CpuFeatures::avx_vnni).
#include "cpu/packed_avx2_inl.h"

namespace tandem::cpu {

void gemm_q4_0x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, true>(a); }
void gemm_q8_0x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, false>(a); }
void gemm_q4_kx16_avxvnni(const PackedGemm& a) { gemm_kquant<true, true>(a); }
void gemm_q6_kx16_avxvnni(const PackedGemm& a) { gemm_kquant<true, false>(a); }

}  // namespace tandem::cpu
