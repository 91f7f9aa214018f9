// Read-bandwidth kernels for the benchmarks: sum a buffer with the widest loads an
// ISA has (declarations only: each body is built with its ISA's flags).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::bench {

// Sum of the buffer's 64-bit words (the result only keeps the loads alive).
// p: 64-byte aligned; bytes: a multiple of 256.
uint64_t sum_words_avx2(const void* p, size_t bytes);
uint64_t sum_words_avx512(const void* p, size_t bytes);

}  // namespace tandem::bench
