// The prefill rooflines for tandem_bench_gemm: how many int8 (vpdpbusd) and bf16
// (vdpbf16ps) multiply-adds per second this CPU's AVX-512 units retire on N threads, on
// independent zmm accumulators that stay in registers, with no memory traffic.
// One vpdpbusd does 16 lanes x 4 = 64 multiply-adds, one vdpbf16ps 16 x 2 = 32, so at
// equal instruction throughput the bf16 peak is half the int8 peak; both are measured.
//
// tandem_bench_gemm states GEMMs against profiler::measure_int8_peak (the project's
// probe) and prints this int8 figure beside it as a cross-check: at commit d791db8 the
// profiler's loop kept its accumulators in a stack array and ran about 3x below the
// units on this Zen 5 (285 against 905 GOPS on one thread).
#pragma once

namespace tandem::bench {

struct DotPeaks {
  int threads = 0;
  double int8_gops = 0;    // 1e9 int8 ops per second (a multiply-add counts 2); 0: no AVX512_VNNI
  double bf16_gflops = 0;  // 1e9 bf16 flops per second (a multiply-add counts 2); 0: no AVX512_BF16
};

// Each the best of `reps` runs of about `seconds`, every thread running the loop at once.
DotPeaks measure_dot_peaks(int threads, double seconds = 0.05, int reps = 3);

}  // namespace tandem::bench
