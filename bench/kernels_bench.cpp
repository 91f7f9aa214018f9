// tandem_bench_kernels: GEMV speed per weight type and ISA, stated against the
// machine's measured read bandwidth.
//
// ReadBandwidth/threads:N  sums a 1 GiB buffer (several times any LLC) with the widest
//                          loads this CPU has, split over N threads of a ThreadArena
//                          the way matmul splits rows. Its best pass is the roofline.
// Gemv/<type>/<rows>x<cols>/<isa>/threads:N
//                          cpu::matmul with one token (activation quantization
//                          included) on the lane {isa, arena(N)}; "ref" is the scalar
//                          reference. Each iteration reads the next of several copies
//                          of the matrix (1 GiB in all), so weights come from DRAM.
// Gemv/<type>/<rows>x<cols>/avx512-packed/threads:N
//                          the same with the matrix re-laid out by pack_matrix (the
//                          engine's layout where the type has one); GB/s counts the
//                          packed bytes (the same size as the GGUF rows).
// Gemv/<type>/<rows>x<cols>/avx2-packed/threads:N, .../avxvnni-packed/threads:N
//                          the AVX2 lane's packed kernels, each forced (plain AVX2 and,
//                          where the CPU has it, AVX-VNNI), run as matmul runs packed
//                          matrices for one token: the AVX2 activation quantizer on the
//                          arena, then one contiguous share of the groups per thread.
// GemvLut/q4_0/<rows>x<cols>/threads:N
//                          the lookup-table kernel (cpu/lut_gemv.h, AVX-512 VBMI) on the
//                          matrix re-laid out by pack_lut_q4_0, split by 16-row groups
//                          over the arena as the packed matmul splits them; activation
//                          quantization and tables included. GB/s counts the bit-plane
//                          bytes (the same size as the GGUF rows).
// GemvLutHot/q4_0/256x4096
//                          the LUT kernel alone (tables made once, one thread) on a
//                          256-row matrix that stays in L2, as GemvHot.
// GemvHot/<type>/256x4096/<isa>, .../avx512-packed, .../avx2-packed, .../avxvnni-packed
//                          the kernel alone (select_gemv, one thread) on a 256-row
//                          matrix that stays in L2: the compute ceiling (GB per second
//                          of CPU time), which must exceed one core's share of the
//                          read bandwidth.
// Counters: GB/s = weight bytes (or buffer bytes) per second; frac_bw = GB/s divided by
// the read bandwidth measured with the same thread count before the benchmarks (best
// of 5 passes); frac_bw_now = GB/s divided by one read pass made right after the
// timed loop (on a shared machine the bandwidth drifts with the neighbours' load).
// Each benchmark also has a "max" statistic: --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true then shows the best of 3 as *_max.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_weights.h"
#include "cpu/cpu_lane.h"
#include "cpu/gemv.h"
#include "cpu/isa.h"
#include "cpu/lut_gemv.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "cpu/packed_kernels.h"
#include "core/check.h"
#include "cpu/quant_ref.h"
#include "profiler/read_bandwidth.h"

namespace tandem::bench {
namespace {

using cpu::Isa;
using profiler::sum_words_avx2;
using profiler::sum_words_avx512;

constexpr size_t kReadBytes = size_t{1} << 30;      // 1 GiB
constexpr size_t kReadChunk = size_t{4} << 20;      // per parallel_for index
constexpr size_t kRotationBytes = size_t{1} << 30;   // matrix copies per benchmark
constexpr int kThreadCounts[] = {1, 2};

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// The 1 GiB buffer, touched so every page is mapped.
// On transparent huge pages, as the packed matrices are (pack_matrix) and as
// profiler::measure_read_bandwidth reads: on this VM a 4 KiB-page buffer reads
// 15-25% slower, which would flatter every fraction measured against it.
struct ReadBuffer {
  std::unique_ptr<uint8_t, AlignedFree> data{static_cast<uint8_t*>(std::aligned_alloc(size_t{2} << 20, kReadBytes))};
  ReadBuffer() {
    ::madvise(data.get(), kReadBytes, MADV_HUGEPAGE);
    std::memset(data.get(), 1, kReadBytes);
  }
};

// One pass over the buffer on the arena's threads; returns seconds.
double read_pass(const ReadBuffer& buf, const cpu::ThreadArena& arena, bool avx512) {
  const int64_t n_chunks = static_cast<int64_t>(kReadBytes / kReadChunk);
  std::vector<uint64_t> sums(static_cast<size_t>(n_chunks));
  const auto t0 = std::chrono::steady_clock::now();
  arena.parallel_for(n_chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const uint8_t* p = buf.data.get() + static_cast<size_t>(c) * kReadChunk;
      sums[static_cast<size_t>(c)] = avx512 ? sum_words_avx512(p, kReadChunk) : sum_words_avx2(p, kReadChunk);
    }
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sums.data());
  return s;
}

// GB/s of the best of `passes` passes.
double measure_read_bandwidth(const ReadBuffer& buf, int threads, bool avx512, int passes) {
  const cpu::ThreadArena arena(threads);
  double best = 1e30;
  for (int i = 0; i < passes; ++i) best = std::min(best, read_pass(buf, arena, avx512));
  return static_cast<double>(kReadBytes) / best / 1e9;
}

// Deterministic activations in [-1, 1).
void fill_activations(std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) / 500.0f - 1.0f;
}

// The counters of a DRAM benchmark that read `bytes` per iteration for `elapsed`.
void report_rate(benchmark::State& st, double bytes, std::chrono::steady_clock::duration elapsed,
                 const ReadBuffer& buf, const cpu::ThreadArena& arena, bool avx512, double read_gbs) {
  const double s = std::chrono::duration<double>(elapsed).count();
  const double gbs = bytes * static_cast<double>(st.iterations()) / s / 1e9;
  st.counters["GB/s"] = gbs;
  st.counters["frac_bw"] = gbs / read_gbs;
  st.counters["frac_bw_now"] = gbs / (static_cast<double>(kReadBytes) / read_pass(buf, arena, avx512) / 1e9);
  st.SetBytesProcessed(static_cast<int64_t>(bytes) * st.iterations());
}

// Copies of one weight matrix, kept while the benchmarks of that matrix run (they are
// registered, and so run, one matrix after the other).
struct MatrixSet {
  DType type{};
  int64_t rows = 0, cols = 0;
  std::vector<std::vector<uint8_t>> copies;
  std::vector<cpu::PackedMatrix> packed;  // pack_matrix of each copy, made on first use
  std::vector<cpu::LutMatrix> lut;        // pack_lut_q4_0 of each copy, made on first use
};

MatrixSet& matrices(MatrixSet& cache, DType t, int64_t rows, int64_t cols) {
  if (cache.type == t && cache.rows == rows && cache.cols == cols && !cache.copies.empty()) return cache;
  cache.copies.clear();
  cache.copies.shrink_to_fit();
  cache.packed.clear();
  cache.packed.shrink_to_fit();
  cache.lut.clear();
  cache.lut.shrink_to_fit();
  std::vector<uint8_t> w = random_weights(t, rows, cols, 42);
  const size_t n = std::max<size_t>(1, (kRotationBytes + w.size() - 1) / w.size());
  cache.copies.assign(n, w);
  cache.type = t;
  cache.rows = rows;
  cache.cols = cols;
  return cache;
}

void gemv_benchmark(benchmark::State& st, MatrixSet* cache, const ReadBuffer* buf, bool avx512,
                    DType t, int64_t rows, int64_t cols, Isa isa, bool packed, int threads, double read_gbs) {
  MatrixSet& m = matrices(*cache, t, rows, cols);
  if (packed && m.packed.empty())
    for (const auto& c : m.copies) {
      auto p = cpu::pack_matrix(t, c.data(), rows, cols);
      TANDEM_CHECK(p.is_ok()) << p.error().message();
      m.packed.push_back(std::move(*p));
    }
  const cpu::ThreadArena arena(threads);
  const cpu::CpuLane lane{isa, &arena};
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  fill_activations(x);
  const double bytes = static_cast<double>(m.copies[0].size());
  size_t next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    cpu::MatmulArgs a{t, m.copies[next].data(), rows, cols, x.data(), 1, y.data()};
    if (packed) a.packed = &m.packed[next];
    cpu::matmul(lane, a);
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % m.copies.size();
  }
  report_rate(st, bytes, std::chrono::steady_clock::now() - t0, *buf, arena, avx512, read_gbs);
}

// One token through a forced packed kernel k of the AVX2 lane, the way matmul_packed
// runs one token: the AVX2 quantizer split over the arena, then one contiguous share of
// the groups per thread (parallel_for_static, grain of >= 64 KiB as matmul's).
void packed_forward(cpu::PackedGemmFn k, const cpu::PackedMatrix& p, const float* x, std::vector<std::byte>& xq,
                    float* y, const cpu::ThreadArena& arena) {
  constexpr int64_t kMinGroupChunkBytes = 65536;  // as matmul_packed
  constexpr int64_t kQuantGrain = 64;
  const bool act32 = cpu::packed_act32(p.type);
  const int64_t nb = act32 ? p.cols / 32 : p.cols / kQK_K;
  arena.parallel_for(nb, act32 ? kQuantGrain : kQuantGrain / 8, [&](int64_t b0, int64_t b1) {
    if (cpu::packed_act(p.type) == cpu::PackedAct::kQ8_1)  // one token: block b at [b * kActChunk]
      cpu::quantize_act32_q8_1_avx2(x + b0 * 32,
                                    reinterpret_cast<cpu::ActBlockQ8_1*>(xq.data()) + b0 * cpu::kActChunk, b1 - b0,
                                    cpu::kActChunk);
    else if (act32)
      cpu::quantize_act32_avx2(x + b0 * 32, reinterpret_cast<cpu::ActBlock32*>(xq.data()) + b0 * cpu::kActChunk,
                               b1 - b0, cpu::kActChunk);
    else
      cpu::quantize_q8_k_avx2(x + b0 * kQK_K, reinterpret_cast<BlockQ8_K*>(xq.data()) + b0, b1 - b0);
  });
  const int64_t grain = std::max<int64_t>(1, kMinGroupChunkBytes / static_cast<int64_t>(p.group_bytes));
  arena.parallel_for_static(p.groups, grain, [&](int64_t g0, int64_t g1) {
    cpu::PackedGemm g;
    g.w = &p;
    g.x = xq.data();
    g.x_stride = cpu::packed_act_row_bytes(p.type, p.cols);
    g.n_tokens = 1;
    g.group_begin = g0;
    g.group_end = g1;
    g.y = y;
    g.y_stride = p.rows;
    k(g);
  });
}

// Bytes of one token's activations for packed_forward (a whole chunk for the 32-blocks).
size_t packed_act_bytes(DType t, int64_t cols) {
  return cpu::packed_act_row_bytes(t, cols) * (cpu::packed_act32(t) ? cpu::kActChunk : 1);
}

void packed_gemv_benchmark(benchmark::State& st, MatrixSet* cache, const ReadBuffer* buf, bool avx512, DType t,
                           int64_t rows, int64_t cols, bool vnni, int threads, double read_gbs) {
  MatrixSet& m = matrices(*cache, t, rows, cols);
  if (m.packed.empty())
    for (const auto& c : m.copies) {
      auto p = cpu::pack_matrix(t, c.data(), rows, cols);
      TANDEM_CHECK(p.is_ok()) << p.error().message();
      m.packed.push_back(std::move(*p));
    }
  const cpu::PackedGemmFn k = cpu::select_packed_gemm_avx2(t, vnni);
  const cpu::ThreadArena arena(threads);
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  fill_activations(x);
  std::vector<std::byte> xq(packed_act_bytes(t, cols));
  const double bytes = static_cast<double>(m.packed[0].bytes());
  size_t next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    packed_forward(k, m.packed[next], x.data(), xq, y.data(), arena);
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % m.packed.size();
  }
  report_rate(st, bytes, std::chrono::steady_clock::now() - t0, *buf, arena, avx512, read_gbs);
}

void lut_gemv_benchmark(benchmark::State& st, MatrixSet* cache, const ReadBuffer* buf, bool avx512,
                        int64_t rows, int64_t cols, int threads, double read_gbs) {
  constexpr int64_t kMinGroupChunkBytes = 65536;  // of weights per thread chunk (as matmul_packed)
  constexpr int64_t kActGrain = 64;               // activation blocks per thread chunk
  MatrixSet& m = matrices(*cache, DType::kQ4_0, rows, cols);
  if (m.lut.empty())
    for (const auto& c : m.copies) {
      auto p = cpu::pack_lut_q4_0(c.data(), rows, cols);
      TANDEM_CHECK(p.is_ok()) << p.error().message();
      m.lut.push_back(std::move(*p));
    }
  const cpu::ThreadArena arena(threads);
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  fill_activations(x);
  const int64_t nb = cols / 32;
  std::vector<cpu::LutActBlock> act(static_cast<size_t>(nb));  // [cols / 32]
  const double bytes = static_cast<double>(m.lut[0].bytes());
  const int64_t grain = std::max<int64_t>(1, kMinGroupChunkBytes / static_cast<int64_t>(m.lut[0].group_bytes));
  size_t next = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    const cpu::LutMatrix& w = m.lut[next];
    arena.parallel_for(nb, kActGrain, [&](int64_t b0, int64_t b1) {
      cpu::lut_quantize_act(x.data() + b0 * 32, (b1 - b0) * 32, act.data() + b0);
    });
    arena.parallel_for(w.groups, grain, [&](int64_t g0, int64_t g1) {
      cpu::lut_gemv_q4_0(w, act.data(), g0 * cpu::kLutRows, std::min(rows, g1 * cpu::kLutRows), y.data());
    });
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % m.lut.size();
  }
  report_rate(st, bytes, std::chrono::steady_clock::now() - t0, *buf, arena, avx512, read_gbs);
}

void gemv_hot_benchmark(benchmark::State& st, DType t, Isa isa) {
  constexpr int64_t kRows = 256, kCols = 4096;
  const std::vector<uint8_t> w = random_weights(t, kRows, kCols, 7);
  std::vector<float> x(static_cast<size_t>(kCols)), y(static_cast<size_t>(kRows));
  fill_activations(x);
  std::vector<uint8_t> xq(cpu::quantized_row_bytes(cpu::vec_dot_type(t), kCols));
  cpu::quantize_activation_ref(t, x.data(), xq.data(), kCols);
  cpu::GemvRows a;
  a.w = w.data();
  a.w_stride = w.size() / kRows;
  a.x = xq.data();
  a.cols = kCols;
  a.row_begin = 0;
  a.row_end = kRows;
  a.y = y.data();
  const cpu::GemvRowsFn fn = cpu::select_gemv(t, isa);
  for (auto _ : st) {
    fn(a);
    benchmark::DoNotOptimize(y.data());
  }
  // Per second of this thread's CPU time: shown as GB=<rate>/s.
  st.counters["GB"] = benchmark::Counter(static_cast<double>(w.size()) / 1e9,
                                         benchmark::Counter::kIsIterationInvariantRate);
  st.SetBytesProcessed(static_cast<int64_t>(w.size()) * st.iterations());
}

void lut_gemv_hot_benchmark(benchmark::State& st) {
  constexpr int64_t kRows = 256, kCols = 4096;
  const std::vector<uint8_t> w = random_weights(DType::kQ4_0, kRows, kCols, 7);
  auto m = cpu::pack_lut_q4_0(w.data(), kRows, kCols);
  TANDEM_CHECK(m.is_ok()) << m.error().message();
  std::vector<float> x(static_cast<size_t>(kCols)), y(static_cast<size_t>(kRows));
  fill_activations(x);
  std::vector<cpu::LutActBlock> act(static_cast<size_t>(kCols / 32));
  cpu::lut_quantize_act(x.data(), kCols, act.data());
  for (auto _ : st) {
    cpu::lut_gemv_q4_0(*m, act.data(), 0, kRows, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB"] = benchmark::Counter(static_cast<double>(m->bytes()) / 1e9,
                                         benchmark::Counter::kIsIterationInvariantRate);
  st.SetBytesProcessed(static_cast<int64_t>(m->bytes()) * st.iterations());
}

// The packed kernel alone, one thread, on a 256-row packed matrix that stays in L2.
void gemv_hot_packed_benchmark(benchmark::State& st, DType t) {
  constexpr int64_t kRows = 256, kCols = 4096;
  const std::vector<uint8_t> w = random_weights(t, kRows, kCols, 7);
  auto packed = cpu::pack_matrix(t, w.data(), kRows, kCols);
  TANDEM_CHECK(packed.is_ok()) << packed.error().message();
  const cpu::ThreadArena arena(1);
  const cpu::CpuLane lane{Isa::kAvx512, &arena};
  std::vector<float> x(static_cast<size_t>(kCols)), y(static_cast<size_t>(kRows));
  fill_activations(x);
  for (auto _ : st) {
    cpu::MatmulArgs a{t, w.data(), kRows, kCols, x.data(), 1, y.data()};
    a.packed = &*packed;
    cpu::matmul(lane, a);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB"] = benchmark::Counter(static_cast<double>(packed->bytes()) / 1e9,
                                         benchmark::Counter::kIsIterationInvariantRate);
}

// A forced packed kernel of the AVX2 lane alone (quantizer included, one thread) on a
// 256-row packed matrix that stays in L2.
void gemv_hot_packed_avx2_benchmark(benchmark::State& st, DType t, bool vnni) {
  constexpr int64_t kRows = 256, kCols = 4096;
  const std::vector<uint8_t> w = random_weights(t, kRows, kCols, 7);
  auto packed = cpu::pack_matrix(t, w.data(), kRows, kCols);
  TANDEM_CHECK(packed.is_ok()) << packed.error().message();
  const cpu::ThreadArena arena(1);
  const cpu::PackedGemmFn k = cpu::select_packed_gemm_avx2(t, vnni);
  std::vector<float> x(static_cast<size_t>(kCols)), y(static_cast<size_t>(kRows));
  fill_activations(x);
  std::vector<std::byte> xq(packed_act_bytes(t, kCols));
  for (auto _ : st) {
    packed_forward(k, *packed, x.data(), xq, y.data(), arena);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB"] = benchmark::Counter(static_cast<double>(packed->bytes()) / 1e9,
                                         benchmark::Counter::kIsIterationInvariantRate);
}

void read_benchmark(benchmark::State& st, const ReadBuffer* buf, int threads, bool avx512, double read_gbs) {
  const cpu::ThreadArena arena(threads);
  double seconds = 0;
  for (auto _ : st) seconds += read_pass(*buf, arena, avx512);
  const double gbs = static_cast<double>(kReadBytes) * static_cast<double>(st.iterations()) / seconds / 1e9;
  st.counters["GB/s"] = gbs;
  st.counters["frac_bw"] = gbs / read_gbs;
  st.SetBytesProcessed(static_cast<int64_t>(kReadBytes) * st.iterations());
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

std::string isa_label(Isa isa) { return isa == Isa::kScalar ? "ref" : std::string(cpu::isa_name(isa)); }

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  using namespace tandem;
  using namespace tandem::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const cpu::Isa best = cpu::best_isa();
  if (best == cpu::Isa::kScalar) {
    std::fprintf(stderr, "tandem_bench_kernels: needs AVX2 at least for the read-bandwidth loop\n");
    return 1;
  }
  const bool avx512 = best == cpu::Isa::kAvx512;
  std::printf("CPU kernels: %s; read bandwidth with %s loads over 1 GiB\n",
              cpu::describe_isa(best, cpu::cpu_features()).c_str(), avx512 ? "512-bit" : "256-bit");
  const ReadBuffer buf;
  std::map<int, double> read_gbs;
  for (int threads : kThreadCounts) {
    read_gbs[threads] = measure_read_bandwidth(buf, threads, avx512, 5);
    std::printf("read bandwidth, %d thread(s): %.2f GB/s (best of 5 passes)\n", threads, read_gbs[threads]);
  }
  std::fflush(stdout);

  for (int threads : kThreadCounts)
    benchmark::RegisterBenchmark(("ReadBandwidth/threads:" + std::to_string(threads)).c_str(),
                                 read_benchmark, &buf, threads, avx512, read_gbs[threads])
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->ComputeStatistics("max", max_of);

  const DType types[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                         DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                         DType::kF16,  DType::kBF16};
  for (DType t : types)
    for (cpu::Isa isa : cpu::supported_isas())
      benchmark::RegisterBenchmark(
          ("GemvHot/" + std::string(dtype_name(t)) + "/256x4096/" + isa_label(isa)).c_str(),
          gemv_hot_benchmark, t, isa)
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("max", max_of);

  if (cpu::lut_available())
    benchmark::RegisterBenchmark("GemvLutHot/q4_0/256x4096", lut_gemv_hot_benchmark)
        ->Unit(benchmark::kMicrosecond)
        ->ComputeStatistics("max", max_of);

  for (DType t : types)
    if (cpu::packable(t, Isa::kAvx512))
      benchmark::RegisterBenchmark(("GemvHot/" + std::string(dtype_name(t)) + "/256x4096/avx512-packed").c_str(),
                                   gemv_hot_packed_benchmark, t)
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("max", max_of);

  // The AVX2 lane's packed kernels, each variant forced.
  const bool avx_vnni = cpu::cpu_features().avx_vnni;
  for (DType t : types)
    for (bool vnni : {false, true})
      if (cpu::packable(t, Isa::kAvx2) && (!vnni || avx_vnni))
        benchmark::RegisterBenchmark(("GemvHot/" + std::string(dtype_name(t)) + "/256x4096/" +
                                      (vnni ? "avxvnni" : "avx2") + "-packed").c_str(),
                                     gemv_hot_packed_avx2_benchmark, t, vnni)
            ->Unit(benchmark::kMicrosecond)
            ->ComputeStatistics("max", max_of);

  MatrixSet cache;
  struct Shape {
    int64_t rows, cols;
  };
  for (Shape s : {Shape{4096, 4096}, Shape{14336, 4096}})
    for (DType t : types) {
      for (cpu::Isa isa : cpu::supported_isas())
        for (bool packed : {false, true})
        for (int threads : kThreadCounts) {
          if (packed && !cpu::packable(t, isa)) continue;
          if (packed && isa == Isa::kAvx2) {  // each variant forced (matmul would pick one)
            for (bool vnni : {false, true}) {
              if (vnni && !avx_vnni) continue;
              const std::string name = "Gemv/" + std::string(dtype_name(t)) + "/" + std::to_string(s.rows) +
                                       "x" + std::to_string(s.cols) + (vnni ? "/avxvnni" : "/avx2") +
                                       "-packed/threads:" + std::to_string(threads);
              benchmark::RegisterBenchmark(name.c_str(), packed_gemv_benchmark, &cache, &buf, avx512, t, s.rows,
                                           s.cols, vnni, threads, read_gbs[threads])
                  ->Unit(benchmark::kMillisecond)
                  ->UseRealTime()
                  ->ComputeStatistics("max", max_of);
            }
            continue;
          }
          const std::string name = "Gemv/" + std::string(dtype_name(t)) + "/" + std::to_string(s.rows) +
                                   "x" + std::to_string(s.cols) + "/" + isa_label(isa) +
                                   (packed ? "-packed" : "") + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), gemv_benchmark, &cache, &buf, avx512, t, s.rows,
                                       s.cols, isa, packed, threads, read_gbs[threads])
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->ComputeStatistics("max", max_of);
        }
      if (t == DType::kQ4_0 && cpu::lut_available())
        for (int threads : kThreadCounts) {
          const std::string name = "GemvLut/q4_0/" + std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                   "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), lut_gemv_benchmark, &cache, &buf, avx512, s.rows, s.cols,
                                       threads, read_gbs[threads])
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->ComputeStatistics("max", max_of);
        }
    }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
