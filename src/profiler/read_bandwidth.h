// The decode roofline: how fast this machine READS memory (weights are only read).
// A read-only kernel with the widest loads the CPU has, on N threads, over a buffer far
// larger than the last-level cache.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::profiler {

struct ReadBandwidth {
  double gb_per_s = 0;   // best of the repetitions, 1 GB = 1e9 bytes
  size_t bytes = 0;      // buffer size read each repetition
  int threads = 0;
  const char* isa = "";  // "avx512", "avx2" or "scalar"
};

// Reads a `bytes` buffer (rounded up to 4 KiB) `reps` times with `threads` threads.
ReadBandwidth measure_read_bandwidth(int threads, size_t bytes = size_t{1} << 30, int reps = 5);

// Sums of 64-bit words (the result keeps the loads alive). p: 64-byte aligned,
// bytes: a multiple of 256. Each is compiled with its ISA's flags only.
uint64_t sum_words_scalar(const void* p, size_t bytes);
uint64_t sum_words_avx2(const void* p, size_t bytes);
uint64_t sum_words_avx512(const void* p, size_t bytes);

}  // namespace tandem::profiler
