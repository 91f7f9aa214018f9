// Plain AVX2 kernels for packed Q4_0, Q8_0, Q4_K and Q6_K weights (vpmaddubsw +
// vpmaddwd; the bodies and why their sums are exact: packed_avx2_inl.h). Built with
// -mavx2 -mfma -mf16c -ffp-contract=off only: runs on Haswell and Zen 1 and later.
#include "cpu/packed_avx2_inl.h"

namespace tandem::cpu {

void gemm_q4_0x16_avx2(const PackedGemm& a) { gemm_legacy<false, true>(a); }
void gemm_q8_0x16_avx2(const PackedGemm& a) { gemm_legacy<false, false>(a); }
void gemm_q4_kx16_avx2(const PackedGemm& a) { gemm_kquant<false, true>(a); }
void gemm_q6_kx16_avx2(const PackedGemm& a) { gemm_kquant<false, false>(a); }

}  // namespace tandem::cpu
