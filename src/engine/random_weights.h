// Counter-based random numbers for synthetic weights. Element k of a tensor is a pure
// function of (seed, tensor name, k), so rows can be generated in any order, on any
// number of threads, with identical results; and a tensor's values do not depend on the
// file's weight type or on which other tensors the file holds (an f16 and a q4_0 file
// made with the same seed hold the same weights, before rounding).
//
// Generator: SplitMix64 indexed by pair (state = key + (p + 1) * golden gamma, then the
// SplitMix64 finalizer), and Box-Muller on each 64-bit output: the top 23 bits give
// u1 in (0, 1), the low 24 bits u2 in [0, 1); element 2p is r*cos(2*pi*u2), element
// 2p+1 is r*sin(2*pi*u2), r = sqrt(-2 ln u1). Tails are cut at |z| <= 5.8. ln, cos and
// sin are short polynomials in plain float arithmetic (within 1e-7 of the true values):
// several times faster than libm, and the same bits on every machine.
#pragma once

#include <cstdint>
#include <string_view>

namespace tandem {

// The stream of one tensor: a hash of the seed and the tensor's name.
uint64_t weight_stream_key(uint64_t seed, std::string_view tensor_name);

// out[j] = standard normal number (first + j) of the stream, j < n.
void normal_values(uint64_t key, uint64_t first, float* out, int64_t n);

}  // namespace tandem
