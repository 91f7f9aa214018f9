#include "profiler/read_bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace tandem::profiler {

uint64_t sum_words_scalar(const void* p, size_t bytes) {
  const auto* w = static_cast<const uint64_t*>(p);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < bytes / 8; i += 4) {
    s0 += w[i];
    s1 += w[i + 1];
    s2 += w[i + 2];
    s3 += w[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

ReadBandwidth measure_read_bandwidth(int threads, size_t bytes, int reps) {
  threads = std::max(1, threads);
  bytes = (bytes + 4095) & ~size_t{4095};
  ReadBandwidth r;
  r.bytes = bytes;
  r.threads = threads;
  using SumFn = uint64_t (*)(const void*, size_t);
  SumFn sum = sum_words_scalar;
  r.isa = "scalar";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    sum = sum_words_avx512;
    r.isa = "avx512";
  } else if (__builtin_cpu_supports("avx2")) {
    sum = sum_words_avx2;
    r.isa = "avx2";
  }
  void* buf = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) return r;
  madvise(buf, bytes, MADV_HUGEPAGE);
  // Slices: a multiple of 256 bytes each; every thread touches (first-writes) its own.
  const size_t slice = (bytes / static_cast<size_t>(threads)) & ~size_t{255};
  std::atomic<uint64_t> sink{0};
  auto run_all = [&](bool init) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        auto* p = static_cast<uint8_t*>(buf) + slice * static_cast<size_t>(t);
        if (init) std::memset(p, t + 1, slice);
        else sink += sum(p, slice);
      });
    for (auto& th : pool) th.join();
  };
  run_all(/*init=*/true);
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run_all(false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(slice) * threads / s / 1e9);
  }
  munmap(buf, bytes);
  r.gb_per_s = best;
  return r;
}

}  // namespace tandem::profiler
