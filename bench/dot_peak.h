// The bf16 roofline for tandem_bench_gemm: how many bf16 multiply-adds per second this
// CPU's AVX-512 units retire (vdpbf16ps on independent zmm accumulators, no memory
// traffic) on N threads. One vdpbf16ps does 16 lanes x 2 = 32 multiply-adds against
// vpdpbusd's 64, so at equal instruction throughput the bf16 peak is half the int8 peak
// (profiler::measure_int8_peak), which the GEMMs are stated against.
#pragma once

namespace tandem::bench {

// 1e9 bf16 flops per second (a multiply-add counts 2), the best of `reps` runs of about
// `seconds`, every thread running the loop at once; 0 without AVX512_BF16.
double measure_bf16_peak(int threads, double seconds = 0.05, int reps = 3);

}  // namespace tandem::bench
