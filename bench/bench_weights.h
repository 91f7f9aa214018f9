// Weight matrices for the kernel benchmarks. Speed does not depend on the values, so
// quantized rows are random bytes with finite f16 scales, float rows random values in
// [-1, 1]: fast to make even for 14336 x 4096.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace tandem::bench {

// [rows, row_bytes(t, cols)] bytes, deterministic for a seed.
std::vector<uint8_t> random_weights(DType t, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace tandem::bench
