// The prefill roofline: how many int8 multiply-adds per second this CPU's AVX-512 VNNI
// units retire (vpdpbusd on independent zmm accumulators, no memory traffic), on N
// threads. Prompt processing runs the packed int8 kernels, so its GOPS are stated as a
// fraction of this peak.
#pragma once

namespace tandem::profiler {

struct ComputePeak {
  double gops = 0;       // 1e9 int8 operations per second (a multiply-add counts 2); 0: not measured
  int threads = 0;
  const char* kind = "";  // "avx512-vnni int8", or "" where the CPU lacks it
};

// Best of `reps` runs of about `seconds` each, every thread running the loop at once.
ComputePeak measure_int8_peak(int threads, double seconds = 0.05, int reps = 3);

// One thread's loop: `iters` iterations of 16 independent vpdpbusd (16 x 64 multiply-
// adds each). Returns a value that depends on every result. AVX-512 VNNI only.
int vnni_dpbusd_loop(long iters);

}  // namespace tandem::profiler
