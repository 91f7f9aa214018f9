// tandem_bench_gemm: prefill GEMM (Y[tokens, rows] = X[tokens, cols] · Wᵀ) on
// Llama-3.1-8B's shapes, Tandem's packed AVX-512 VNNI kernels against oneDNN's matmul
// on the same weights, so the engine can pick the faster for prompt processing.
//
// Gemm/<rows>x<cols>/tokens:N/tandem-packed-<q4_0|q8_0>/threads:T
//     cpu::matmul on a pack_matrix'ed GGUF matrix and f32 activations [N, cols], on the
//     lane {avx512, ThreadArena(T)}: activation quantization included, as in the engine.
// Gemm/<rows>x<cols>/tokens:N/onednn-bf16/threads:T
//     oneDNN matmul: src bf16 [N, cols] x weights bf16 [cols, rows] -> dst f32 [N, rows].
//     The weights are the Q4_0 matrix dequantized once to bf16 and reordered once into
//     the layout the primitive asks for (format_tag::any), outside the timing; the
//     f32 -> bf16 reorder of the activations is inside it.
// Gemm/<rows>x<cols>/tokens:N/onednn-s8/threads:T
//     oneDNN matmul: src s8 x weights s8 -> dst f32 with runtime per-output-channel scales.
//     Weights: the dequantized Q4_0 matrix requantized to s8 with one absmax scale per row
//     (outside the timing); activations: one absmax scale for the whole [N, cols] tensor
//     (AVX-512, on T OpenMP threads, inside the timing). A measurement only: per-row s8
//     is not the GGUF format (one scale per 32-weight block), so its results are not the
//     engine's (rel_err about twice the packed kernels' on these random weights; real
//     weights, with outlier blocks, lose more).
//
// oneDNN's threads: Debian's libdnnl runs on OpenMP (static_assert below), and oneDNN
// sizes its parallel regions by omp_get_max_threads() of the calling thread, read when
// a primitive is created (for its work split) and when it runs. Every onednn benchmark calls omp_set_num_threads(T) first, on the benchmark's
// thread, and checks that an OpenMP team has exactly T threads.
// No oversubscription: benchmarks run one after the other, each on either a ThreadArena
// (oneTBB) or oneDNN's OpenMP team, never both; each ends with a short sleep outside the
// timing so the other runtime's spinning workers (libgomp spins a few ms after a
// region; oneTBB workers leave an empty arena soon) are asleep before the next starts.
//
// Counters: GOPS = 2 * rows * cols * N / seconds per call (1e9 operations per second, a
// multiply-add counts 2, whatever the data type); frac_int8_peak = GOPS / the vpdpbusd
// peak on T threads (profiler::measure_int8_peak, also for bf16 and s8, so every variant
// is stated against one roofline); for bf16 also frac_bf16_peak = GOPS / the vdpbf16ps
// peak (dot_peak.h): vdpbf16ps does 32 multiply-adds per zmm instruction against
// vpdpbusd's 64, so at the same instruction rate the bf16 peak is half the int8 peak,
// and a bf16 GEMM can reach at most ~0.5 of frac_int8_peak. rel_err = rms(y - ref) /
// rms(ref) over 64 sampled outputs, ref in double from the GGUF rows (the benchmark
// fails if it exceeds the variant's tolerance: a wrong layout gives ~1.4).
// Use --benchmark_repetitions=3 --benchmark_report_aggregates_only=true on a shared
// machine; each benchmark also has a "max" statistic: GOPS_max is the best repetition
// (the time columns' max is the slowest).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench_weights.h"
#include "core/check.h"
#include "core/fp16.h"
#include "cpu/cpu_lane.h"
#include "cpu/isa.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "cpu/quant_ref.h"
#include "dot_peak.h"
#include "profiler/compute_peak.h"

static_assert(DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP,
              "tandem_bench_gemm sets oneDNN's threads with omp_set_num_threads: needs an OpenMP oneDNN");

namespace tandem::bench {
namespace {

constexpr int kThreadCounts[] = {1, 2};
constexpr int64_t kTokenCounts[] = {128, 512};
constexpr int kSamples = 64;                 // outputs checked against the reference
constexpr double kPackedTol = 0.01;          // rel_err: int8 activations, exact weights
constexpr double kBf16Tol = 0.01;            // bf16 weights and activations (8-bit mantissas)
constexpr double kS8Tol = 0.03;              // per-row s8 weights, per-tensor s8 activations
constexpr auto kSettle = std::chrono::milliseconds(50);  // idle workers fall asleep

struct Shape {
  int64_t rows, cols;  // W is [rows, cols] (GGUF ne0 = cols)
};
// Llama-3.1-8B: wq/wo, gate/up, down (wk/wv are 1024 x 4096).
constexpr Shape kShapes[] = {{4096, 4096}, {14336, 4096}, {4096, 14336}};

// One weight matrix in every form the benchmarks of its shape read. Registered per
// shape, so one set lives at a time.
struct ShapeWeights {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> q4_0, q8_0;              // [rows, row_bytes(type, cols)] GGUF rows
  cpu::PackedMatrix q4_0_packed, q8_0_packed;   // the same, pack_matrix'ed
  std::vector<uint16_t> bf16;                   // [rows, cols]: q4_0 dequantized, as bf16
  std::vector<int8_t> s8;                       // [rows, cols]: q4_0 dequantized, / s8_scale[row]
  std::vector<float> s8_scale;                  // [rows]: absmax of the row / 127
};

cpu::PackedMatrix pack(DType t, const std::vector<uint8_t>& w, int64_t rows, int64_t cols) {
  auto p = cpu::pack_matrix(t, w.data(), rows, cols);
  TANDEM_CHECK(p.is_ok()) << p.error().message();
  return std::move(*p);
}

const ShapeWeights& shape_weights(std::unique_ptr<ShapeWeights>& cache, int64_t rows, int64_t cols) {
  if (cache && cache->rows == rows && cache->cols == cols) return *cache;
  cache.reset();
  auto w = std::make_unique<ShapeWeights>();
  w->rows = rows;
  w->cols = cols;
  w->q4_0 = random_weights(DType::kQ4_0, rows, cols, 42);
  w->q8_0 = random_weights(DType::kQ8_0, rows, cols, 43);
  w->q4_0_packed = pack(DType::kQ4_0, w->q4_0, rows, cols);
  w->q8_0_packed = pack(DType::kQ8_0, w->q8_0, rows, cols);
  w->bf16.resize(static_cast<size_t>(rows * cols));
  w->s8.resize(static_cast<size_t>(rows * cols));
  w->s8_scale.resize(static_cast<size_t>(rows));
  const size_t q4_row = w->q4_0.size() / static_cast<size_t>(rows);
  std::vector<float> f(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    cpu::dequantize_row_ref(DType::kQ4_0, w->q4_0.data() + r * q4_row, f.data(), cols);
    float amax = 0;
    for (int64_t c = 0; c < cols; ++c) {
      w->bf16[static_cast<size_t>(r * cols + c)] = f32_to_bf16(f[c]);
      amax = std::max(amax, std::fabs(f[c]));
    }
    const float s = amax / 127.0f, inv = s > 0 ? 1.0f / s : 0.0f;
    w->s8_scale[static_cast<size_t>(r)] = s;
    for (int64_t c = 0; c < cols; ++c)
      w->s8[static_cast<size_t>(r * cols + c)] = static_cast<int8_t>(std::nearbyint(f[c] * inv));
  }
  cache = std::move(w);
  return *cache;
}

// [n, cols] in [-1, 1], deterministic.
std::vector<float> activations(int64_t n, int64_t cols) {
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>((i * 2654435761u) % 2000) / 1000.0f - 1.0f;
  return x;
}

// rms(y - ref) / rms(ref) over kSamples outputs; ref in double from W's GGUF rows of
// type t ([rows, row_bytes]), x [n, cols], y [n, rows].
double sampled_rel_err(DType t, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                       const float* x, int64_t n, const float* y) {
  const size_t wrow = w.size() / static_cast<size_t>(rows);
  std::vector<float> f(static_cast<size_t>(cols));
  double err2 = 0, ref2 = 0;
  for (int i = 0; i < kSamples; ++i) {
    const int64_t r = (i * 7919 + 13) % rows, tok = (i * 104729 + 7) % n;
    cpu::dequantize_row_ref(t, w.data() + static_cast<size_t>(r) * wrow, f.data(), cols);
    double ref = 0;
    for (int64_t c = 0; c < cols; ++c) ref += static_cast<double>(f[c]) * x[tok * cols + c];
    const double d = y[tok * rows + r] - ref;
    err2 += d * d;
    ref2 += ref * ref;
  }
  return std::sqrt(err2 / std::max(ref2, 1e-300));
}

struct Peak {
  double int8_gops = 0;    // profiler::measure_int8_peak
  double bf16_gflops = 0;  // measure_bf16_peak (dot_peak.h)
};
using Peaks = std::map<int, Peak>;  // by thread count

void set_counters(benchmark::State& st, double seconds, int64_t rows, int64_t cols, int64_t n,
                  int threads, const Peaks& peaks, double rel_err) {
  const double gops = 2.0 * static_cast<double>(rows * cols * n) * static_cast<double>(st.iterations()) /
                      seconds / 1e9;
  st.counters["GOPS"] = gops;
  st.counters["frac_int8_peak"] = gops / peaks.at(threads).int8_gops;
  st.counters["rel_err"] = rel_err;
}

void tandem_benchmark(benchmark::State& st, std::unique_ptr<ShapeWeights>* cache, const Peaks* peaks,
                      DType t, int64_t rows, int64_t cols, int64_t n, int threads) {
  const ShapeWeights& w = shape_weights(*cache, rows, cols);
  const bool q4 = t == DType::kQ4_0;
  const cpu::ThreadArena arena(threads);
  const cpu::CpuLane lane{cpu::Isa::kAvx512, &arena};
  const std::vector<float> x = activations(n, cols);
  std::vector<float> y(static_cast<size_t>(n * rows));  // [n, rows]
  cpu::MatmulArgs a{t, q4 ? w.q4_0.data() : w.q8_0.data(), rows, cols, x.data(), n, y.data()};
  a.packed = q4 ? &w.q4_0_packed : &w.q8_0_packed;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : st) {
    cpu::matmul(lane, a);
    benchmark::DoNotOptimize(y.data());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double err = sampled_rel_err(t, q4 ? w.q4_0 : w.q8_0, rows, cols, x.data(), n, y.data());
  set_counters(st, s, rows, cols, n, threads, *peaks, err);
  if (err > kPackedTol) st.SkipWithError(("rel_err " + std::to_string(err) + " above tolerance").c_str());
  std::this_thread::sleep_for(kSettle);
}

// ---- oneDNN ----------------------------------------------------------------------

enum class Lowp { kBf16, kS8 };

// One oneDNN matmul set up for a (shape, tokens, type, threads): kept while the calls of
// that benchmark run (Google Benchmark calls a benchmark several times), then replaced.
struct DnnlCase {
  std::string key;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<float> x;       // [n, cols] f32 activations, the input of every call
  std::vector<int8_t> xq;     // [n, cols] s8 activations (kS8)
  std::vector<float> y;       // [n, rows] f32 output (dst)
  std::vector<float> scales;  // [rows] output scales (kS8): activation scale * s8_scale
  dnnl::memory x_f32, x_lowp, w, dst, scales_mem;
  dnnl::reorder to_bf16;      // x_f32 -> x_lowp (kBf16)
  dnnl::matmul mm;
  std::string impl;           // the implementation oneDNN chose, e.g. "brg:avx512_core_bf16"
};

std::unique_ptr<DnnlCase> make_dnnl_case(const ShapeWeights& sw, Lowp lp, int64_t n) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  auto c = std::make_unique<DnnlCase>();
  const int64_t rows = sw.rows, cols = sw.cols;
  c->x = activations(n, cols);
  c->y.resize(static_cast<size_t>(n * rows));
  const dt low = lp == Lowp::kBf16 ? dt::bf16 : dt::s8;
  const dnnl::memory::dims src_dims{n, cols}, w_dims{cols, rows}, dst_dims{n, rows};
  const dnnl::memory::desc src_md(src_dims, low, tag::ab);
  const dnnl::memory::desc w_any(w_dims, low, tag::any);
  const dnnl::memory::desc dst_md(dst_dims, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (lp == Lowp::kS8) attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});  // per dst column
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_any, dst_md), attr, c->eng);
  c->impl = pd.impl_info_str();
  // Our [rows, cols] row-major matrix is the [cols, rows] weights in layout "ba".
  void* user_ptr = lp == Lowp::kBf16 ? static_cast<void*>(const_cast<uint16_t*>(sw.bf16.data()))
                                     : static_cast<void*>(const_cast<int8_t*>(sw.s8.data()));
  dnnl::memory user_w({w_dims, low, tag::ba}, c->eng, user_ptr);
  c->w = dnnl::memory(pd.weights_desc(), c->eng);
  dnnl::reorder(user_w, c->w).execute(c->strm, user_w, c->w);
  c->strm.wait();
  c->x_f32 = dnnl::memory({src_dims, dt::f32, tag::ab}, c->eng, c->x.data());
  if (lp == Lowp::kBf16) {
    c->x_lowp = dnnl::memory(src_md, c->eng);
    c->to_bf16 = dnnl::reorder(c->x_f32, c->x_lowp);
  } else {
    c->xq.resize(c->x.size());
    c->x_lowp = dnnl::memory(src_md, c->eng, c->xq.data());
    c->scales.resize(static_cast<size_t>(rows));
    c->scales_mem = dnnl::memory({{rows}, dt::f32, tag::a}, c->eng, c->scales.data());
  }
  c->dst = dnnl::memory(dst_md, c->eng, c->y.data());
  c->mm = dnnl::matmul(pd);
  return c;
}

// max |x[i]| over n floats (n a multiple of 16).
__attribute__((target("avx512f"))) float absmax_avx512(const float* x, int64_t n) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  return _mm512_reduce_max_ps(m);
}

// q[i] = round(x[i] * inv) saturated to s8, n a multiple of 16.
__attribute__((target("avx512f"))) void quantize_s8_avx512(const float* x, float inv, int8_t* q, int64_t n) {
  const __m512 s = _mm512_set1_ps(inv);
  for (int64_t i = 0; i < n; i += 16) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), s));  // nearest even
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtsepi32_epi8(v));
  }
}

// Activations to s8 with one scale (on the OpenMP team oneDNN uses), then the output
// scales of this call.
void quantize_act_s8(DnnlCase& c, const ShapeWeights& sw, int64_t n) {
  const int64_t cols = sw.cols;
  float amax = 0;
  #pragma omp parallel for reduction(max : amax)
  for (int64_t t = 0; t < n; ++t) amax = std::max(amax, absmax_avx512(c.x.data() + t * cols, cols));
  const float s = amax / 127.0f, inv = s > 0 ? 1.0f / s : 0.0f;
  #pragma omp parallel for
  for (int64_t t = 0; t < n; ++t) quantize_s8_avx512(c.x.data() + t * cols, inv, c.xq.data() + t * cols, cols);
  for (size_t r = 0; r < c.scales.size(); ++r) c.scales[r] = s * sw.s8_scale[r];
}

void run_dnnl(DnnlCase& c, const ShapeWeights& sw, Lowp lp, int64_t n) {
  if (lp == Lowp::kBf16) {
    c.to_bf16.execute(c.strm, c.x_f32, c.x_lowp);
    c.mm.execute(c.strm, {{DNNL_ARG_SRC, c.x_lowp}, {DNNL_ARG_WEIGHTS, c.w}, {DNNL_ARG_DST, c.dst}});
  } else {
    quantize_act_s8(c, sw, n);
    c.mm.execute(c.strm, {{DNNL_ARG_SRC, c.x_lowp},
                          {DNNL_ARG_WEIGHTS, c.w},
                          {DNNL_ARG_DST, c.dst},
                          {DNNL_ARG_ATTR_OUTPUT_SCALES, c.scales_mem}});
  }
  c.strm.wait();
}

// Threads in an OpenMP team started now on this thread (what oneDNN's regions get).
int omp_team_size() {
  int n = 0;
  #pragma omp parallel
  {
    #pragma omp single
    n = omp_get_num_threads();
  }
  return n;
}

void dnnl_benchmark(benchmark::State& st, std::unique_ptr<ShapeWeights>* wcache,
                    std::unique_ptr<DnnlCase>* dcache, const Peaks* peaks, Lowp lp, int64_t rows,
                    int64_t cols, int64_t n, int threads) {
  omp_set_num_threads(threads);  // before creating the primitive and before running it
  if (omp_team_size() != threads) {
    st.SkipWithError(("OpenMP team of " + std::to_string(omp_team_size()) + " threads, asked " +
                      std::to_string(threads)).c_str());
    return;
  }
  const ShapeWeights& sw = shape_weights(*wcache, rows, cols);
  const std::string key = std::to_string(rows) + "x" + std::to_string(cols) + "/" + std::to_string(n) + "/" +
                          std::to_string(static_cast<int>(lp)) + "/" + std::to_string(threads);
  try {
    if (!*dcache || (*dcache)->key != key) {
      dcache->reset();
      *dcache = make_dnnl_case(sw, lp, n);
      (*dcache)->key = key;
    }
    DnnlCase& c = **dcache;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : st) {
      run_dnnl(c, sw, lp, n);
      benchmark::DoNotOptimize(c.y.data());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double err = sampled_rel_err(DType::kQ4_0, sw.q4_0, rows, cols, c.x.data(), n, c.y.data());
    set_counters(st, s, rows, cols, n, threads, *peaks, err);
    if (lp == Lowp::kBf16) st.counters["frac_bf16_peak"] = st.counters["GOPS"] / peaks->at(threads).bf16_gflops;
    st.SetLabel(c.impl);
    if (err > (lp == Lowp::kBf16 ? kBf16Tol : kS8Tol))
      st.SkipWithError(("rel_err " + std::to_string(err) + " above tolerance").c_str());
  } catch (const dnnl::error& e) {
    st.SkipWithError((std::string("oneDNN: ") + e.what()).c_str());
  }
  std::this_thread::sleep_for(kSettle);
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

}  // namespace
}  // namespace tandem::bench

int main(int argc, char** argv) {
  using namespace tandem;
  using namespace tandem::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const cpu::CpuFeatures& f = cpu::cpu_features();
  if (!cpu::packable(DType::kQ4_0, cpu::Isa::kAvx512, f) || !cpu::packable(DType::kQ8_0, cpu::Isa::kAvx512, f)) {
    std::fprintf(stderr, "tandem_bench_gemm: needs AVX-512 VNNI (the packed kernels)\n");
    return 1;
  }
  const dnnl_version_t* v = dnnl_version();
  std::printf("CPU kernels: %s; oneDNN %d.%d.%d (OpenMP), max cpu isa %s\n",
              cpu::describe_isa(cpu::Isa::kAvx512, f).c_str(), v->major, v->minor, v->patch,
              dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_bf16 ? "avx512_core_bf16" : "(other)");
  Peaks peaks;
  for (int threads : kThreadCounts) {
    Peak& p = peaks[threads];
    p.int8_gops = profiler::measure_int8_peak(threads, 0.05, 20).gops;
    p.bf16_gflops = measure_bf16_peak(threads, 0.05, 20);
    std::printf("peak, %d thread(s): int8 vpdpbusd %.0f GOPS, bf16 vdpbf16ps %.0f GFLOPS\n", threads,
                p.int8_gops, p.bf16_gflops);
  }
  std::fflush(stdout);
  if (peaks[1].bf16_gflops <= 0) {
    std::fprintf(stderr, "tandem_bench_gemm: needs AVX512_BF16 (oneDNN's bf16 matmul)\n");
    return 1;
  }

  std::unique_ptr<ShapeWeights> wcache;  // one shape's weights at a time
  std::unique_ptr<DnnlCase> dcache;      // one oneDNN setup at a time
  for (const Shape& s : kShapes)
    for (int64_t n : kTokenCounts) {
      const std::string base = "Gemm/" + std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                               "/tokens:" + std::to_string(n) + "/";
      const auto reg = [&](const std::string& variant, int threads, auto&&... fn_args) {
        benchmark::RegisterBenchmark((base + variant + "/threads:" + std::to_string(threads)).c_str(),
                                     fn_args...)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->ComputeStatistics("max", max_of);
      };
      for (DType t : {DType::kQ4_0, DType::kQ8_0})
        for (int threads : kThreadCounts)
          reg(std::string("tandem-packed-") + (t == DType::kQ4_0 ? "q4_0" : "q8_0"), threads, tandem_benchmark,
              &wcache, &peaks, t, s.rows, s.cols, n, threads);
      for (Lowp lp : {Lowp::kBf16, Lowp::kS8})
        for (int threads : kThreadCounts)
          reg(lp == Lowp::kBf16 ? "onednn-bf16" : "onednn-s8", threads, dnnl_benchmark, &wcache, &dcache, &peaks,
              lp, s.rows, s.cols, n, threads);
    }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
