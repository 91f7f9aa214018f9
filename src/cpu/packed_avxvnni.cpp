// AVX-VNNI kernels for packed Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and
// Q6_K weights (256-bit VEX vpdpbusd; the bodies: packed_avx2_inl.h,
// packed_avx2_k23_inl.h). Built with -mavx2 -mfma -mf16c -mavxvnni -ffp-contract=off
// only: for CPUs with AVX-VNNI (CpuFeatures::avx_vnni).
#include "cpu/packed_avx2_inl.h"
#include "cpu/packed_avx2_k23_inl.h"

namespace tandem::cpu {

void gemm_q4_0x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, Legacy::kQ4_0>(a); }
void gemm_q4_1x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, Legacy::kQ4_1>(a); }
void gemm_q5_0x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, Legacy::kQ5_0>(a); }
void gemm_q5_1x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, Legacy::kQ5_1>(a); }
void gemm_q8_0x16_avxvnni(const PackedGemm& a) { gemm_legacy<true, Legacy::kQ8_0>(a); }
void gemm_q2_kx16_avxvnni(const PackedGemm& a) { gemm_k23<true, false>(a); }
void gemm_q3_kx16_avxvnni(const PackedGemm& a) { gemm_k23<true, true>(a); }
void gemm_q4_kx16_avxvnni(const PackedGemm& a) { gemm_kquant<true, KQuant::kQ4_K>(a); }
void gemm_q5_kx16_avxvnni(const PackedGemm& a) { gemm_kquant<true, KQuant::kQ5_K>(a); }
void gemm_q6_kx16_avxvnni(const PackedGemm& a) { gemm_kquant<true, KQuant::kQ6_K>(a); }

}  // namespace tandem::cpu
