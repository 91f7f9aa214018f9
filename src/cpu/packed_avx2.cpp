// Plain AVX2 kernels for packed Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K
// and Q6_K weights (vpmaddubsw + vpmaddwd; the bodies and why their sums are exact:
// packed_avx2_inl.h, packed_avx2_k23_inl.h). Built with -mavx2 -mfma -mf16c
// -ffp-contract=off only: runs on Haswell and Zen 1 and later.
#include "cpu/packed_avx2_inl.h"
#include "cpu/packed_avx2_k23_inl.h"

namespace tandem::cpu {

void gemm_q4_0x16_avx2(const PackedGemm& a) { gemm_legacy<false, Legacy::kQ4_0>(a); }
void gemm_q4_1x16_avx2(const PackedGemm& a) { gemm_legacy<false, Legacy::kQ4_1>(a); }
void gemm_q5_0x16_avx2(const PackedGemm& a) { gemm_legacy<false, Legacy::kQ5_0>(a); }
void gemm_q5_1x16_avx2(const PackedGemm& a) { gemm_legacy<false, Legacy::kQ5_1>(a); }
void gemm_q8_0x16_avx2(const PackedGemm& a) { gemm_legacy<false, Legacy::kQ8_0>(a); }
void gemm_q2_kx16_avx2(const PackedGemm& a) { gemm_k23<false, false>(a); }
void gemm_q3_kx16_avx2(const PackedGemm& a) { gemm_k23<false, true>(a); }
void gemm_q4_kx16_avx2(const PackedGemm& a) { gemm_kquant<false, KQuant::kQ4_K>(a); }
void gemm_q5_kx16_avx2(const PackedGemm& a) { gemm_kquant<false, KQuant::kQ5_K>(a); }
void gemm_q6_kx16_avx2(const PackedGemm& a) { gemm_kquant<false, KQuant::kQ6_K>(a); }

}  // namespace tandem::cpu
