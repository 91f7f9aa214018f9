#include "dot_peak.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tandem::bench {
namespace {

// Independent chains: enough to cover latency x throughput (2 per cycle on Zen 5), and
// with the two sources few enough to stay in the 32 zmm registers.
constexpr int kAcc = 16;

// `iters` iterations of kAcc independent vdpbf16ps (bf16 1.0 times 0.5 in every pair);
// returns a value that depends on all. The trip count is unknown at compile time.
__attribute__((target("avx512f,avx512bf16"), noinline)) float dpbf16_loop(long iters) {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80);
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f00);
  for (long it = 0; it < iters; ++it) {
    #pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

// Operations per second of `loop` (ops_per_iter each iteration) on `threads` threads.
template <typename Loop>
double peak(Loop loop, double ops_per_iter, int threads, double seconds, int reps) {
  std::atomic<double> sink{0};
  long iters = 1 << 12;
  for (;;) {  // calibrate on one thread
    const auto t0 = std::chrono::steady_clock::now();
    sink = sink + static_cast<double>(loop(iters));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > seconds / 4 || iters > (1L << 40)) {
      iters = static_cast<long>(static_cast<double>(iters) * seconds / s) + 1;
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&] { sink = sink + static_cast<double>(loop(iters)); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, ops_per_iter * static_cast<double>(iters) * threads / s);
  }
  return best;
}

}  // namespace

double measure_bf16_peak(int threads, double seconds, int reps) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) return 0;
  return peak(dpbf16_loop, kAcc * 32.0 * 2, std::max(1, threads), seconds, reps) / 1e9;
}

}  // namespace tandem::bench
