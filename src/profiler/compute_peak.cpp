#include "profiler/compute_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tandem::profiler {

ComputePeak measure_int8_peak(int threads, double seconds, int reps) {
  ComputePeak r;
  r.threads = std::max(1, threads);
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bw")) return r;
  r.kind = "avx512-vnni int8";
  constexpr double kOpsPerIter = 16.0 * 64 * 2;
  // Iterations for about `seconds` on one thread, from a short calibration run.
  long iters = 1 << 16;
  std::atomic<int> sink{0};
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += vnni_dpbusd_loop(iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > seconds / 4 || iters > (1L << 40)) {
      iters = static_cast<long>(static_cast<double>(iters) * seconds / s) + 1;
      break;
    }
    iters *= 4;
  }
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < r.threads; ++t) pool.emplace_back([&] { sink += vnni_dpbusd_loop(iters); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.gops = std::max(r.gops, kOpsPerIter * static_cast<double>(iters) * r.threads / s / 1e9);
  }
  return r;
}

}  // namespace tandem::profiler
