// tandem bench: llama-bench's pp/tg table, plus the generation speed as a fraction of
// the read-bandwidth roofline (weight bytes per token over the measured read bandwidth),
// and prompt processing as a fraction of the measured int8 (AVX-512 VNNI) peak: the
// layers' matrix operations per token times tokens per second.
// --batch N: each tg test runs N sequences together (one decode_batch of N tokens per
// step) and reports tokens per second over all of them; a step reads the weights once,
// so its roofline is N times one token's. pp tests run one sequence whatever N is.
// --gpu-layers/--gpu-mem plan the GPU's memory as run does (--gpu-emulate runs the plan
// on the emulated GPU); JSON rows give the layers placed there as n_gpu_layers.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/gpu_setup.h"
#include "cpu/topology.h"
#include "engine/benchmark.h"
#include "engine/runtime.h"
#include "profiler/compute_peak.h"
#include "profiler/read_bandwidth.h"

namespace tandem::cli {
namespace {

// Operations (2 per multiply-add) of the layers' matrices for one token: the prompt
// test's work per token (its logits come from the last token only).
double layer_matmul_ops(const Model& m) {
  double ops = 0;
  for (const LayerWeights& l : m.layers())
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      ops += 2.0 * static_cast<double>(w->rows) * static_cast<double>(w->cols);
  return ops;
}

// Per op: time per decode step, share of the step, and for matrix ops the rate at
// which they read weights against the read bandwidth. "other" is the step's wall time
// the ops do not cover (sampling, bookkeeping).
struct ProfileLine {
  std::string op;
  double ms_per_step, share, weight_gbs;  // weight_gbs: 0 for ops without weights
};

std::vector<ProfileLine> profile_lines(const BenchRow& r) {
  std::vector<ProfileLine> lines;
  const StepProfile& p = r.profile;
  const double steps = static_cast<double>(std::max<int64_t>(1, p.passes));
  for (int i = 0; i < static_cast<int>(StepOp::kCount); ++i) {
    const double s = p.seconds[static_cast<size_t>(i)];
    const double gbs = s > 0 && p.weight_bytes[static_cast<size_t>(i)] > 0
                           ? static_cast<double>(p.weight_bytes[static_cast<size_t>(i)]) / s / 1e9 : 0;
    lines.push_back({std::string(step_op_name(static_cast<StepOp>(i))), 1e3 * s / steps, s / r.seconds, gbs});
  }
  const double other = std::max(0.0, r.seconds - p.total_seconds());
  lines.push_back({"other", 1e3 * other / steps, other / r.seconds, 0});
  return lines;
}

nlohmann::json profile_json(const BenchRow& r, double read_gbs) {
  nlohmann::json ops = nlohmann::json::object();
  for (const ProfileLine& l : profile_lines(r)) {
    nlohmann::json j = {{"ms_per_step", l.ms_per_step}, {"share", l.share}};
    if (l.weight_gbs > 0) {
      j["weight_gbs"] = l.weight_gbs;
      j["read_bw_fraction"] = l.weight_gbs / read_gbs;
    }
    ops[l.op] = j;
  }
  return {{"steps", r.profile.passes}, {"ops", ops}};
}

void print_profile(const BenchRow& r, double read_gbs) {
  std::printf("\nprofile of %s, batch %d: %lld decode steps, %.2f ms per step\n", r.test.c_str(), r.n_seq,
              static_cast<long long>(r.profile.passes),
              1e3 * r.seconds / static_cast<double>(std::max<int64_t>(1, r.profile.passes)));
  std::printf("| %-20s | %9s | %6s | %11s | %10s |\n", "op", "ms/step", "share", "weight GB/s", "of read bw");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(22, '-').c_str(), std::string(11, '-').c_str(),
              std::string(8, '-').c_str(), std::string(13, '-').c_str(), std::string(12, '-').c_str());
  for (const ProfileLine& l : profile_lines(r)) {
    char gbs[32] = "", frac[32] = "";
    if (l.weight_gbs > 0) {
      std::snprintf(gbs, sizeof gbs, "%.1f", l.weight_gbs);
      std::snprintf(frac, sizeof frac, "%.1f%%", 100 * l.weight_gbs / read_gbs);
    }
    std::printf("| %-20s | %9.3f | %5.1f%% | %11s | %10s |\n", l.op.c_str(), l.ms_per_step, 100 * l.share, gbs, frac);
  }
}

}  // namespace

int cmd_bench(const BenchOptions& o) {
  ModelOptions m = o.m;
  int32_t need = 1;
  for (int32_t p : o.n_prompt) need = std::max(need, p);
  for (int32_t n : o.n_gen) need = std::max(need, n + 1);
  if (m.ctx == 0) m.ctx = need;
  auto cfg = context_config(m);
  if (!cfg) return fail(cfg.error());
  for (int32_t b : o.batch) {
    if (b <= 0) return fail("--batch " + std::to_string(b) + ": the number of sequences must be positive");
    cfg->n_seq = std::max(cfg->n_seq, b);
  }
  auto gpu = setup_gpu(GpuRequest{m.model, m.gpu, m.ctx, m.kv_type, cfg->n_seq}, /*force_plan=*/false, stderr);
  if (!gpu) return fail(gpu.error());
  auto rt = open_runtime_on(*gpu, m.model, *cfg);
  if (!rt) return fail(rt.error());
  Context& ctx = *rt->context;
  const Model& model = *rt->model;
  const int32_t bos = rt->tokenizer->add_bos_default() ? rt->tokenizer->bos() : -1;
  const int threads = ctx.arena().n_threads();

  const profiler::ReadBandwidth bw = profiler::measure_read_bandwidth(threads);
  const double bytes_per_token = static_cast<double>(weight_bytes_per_token(model));
  const double roofline_ts = bw.gb_per_s * 1e9 / bytes_per_token;
  const bool any_prompt = std::any_of(o.n_prompt.begin(), o.n_prompt.end(), [](int32_t p) { return p > 0; });
  const profiler::ComputePeak peak = any_prompt ? profiler::measure_int8_peak(threads) : profiler::ComputePeak{};
  const double ops_per_token = layer_matmul_ops(model);
  uint64_t n_params = 0;
  for (const auto& t : model.file().tensors()) n_params += t.n_elements;

  std::vector<BenchRow> rows;
  for (int32_t p : o.n_prompt) {
    if (p == 0) continue;
    auto r = bench_prompt(ctx, p, o.reps, bos);
    if (!r) return fail(r.error());
    rows.push_back(std::move(*r));
  }
  for (int32_t n : o.n_gen) {
    if (n == 0) continue;
    for (int32_t b : o.batch) {
      auto r = bench_generation(ctx, n, o.reps, bos, o.profile, b);
      if (!r) return fail(r.error());
      rows.push_back(std::move(*r));
    }
  }

  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const BenchRow& r : rows) {
      nlohmann::json j = {{"model_filename", m.model}, {"model_size", model.weight_bytes()},
                          {"model_n_params", n_params}, {"n_threads", threads},
                          {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen}, {"n_seq", r.n_seq}, {"test", r.test},
                          {"avg_ts", r.avg_ts}, {"stddev_ts", r.stddev_ts}, {"samples_ts", r.samples_ts},
                          {"kv_type", m.kv_type}, {"read_bw_gbs", bw.gb_per_s},
                          {"n_gpu_layers", gpu->device_layers()}};
      if (r.n_gen > 0) {
        j["roofline_ts"] = roofline_ts * r.n_seq;
        j["roofline_fraction"] = r.avg_ts / (roofline_ts * r.n_seq);
        if (o.profile) j["profile"] = profile_json(r, bw.gb_per_s);
      }
      if (r.n_prompt > 0) {
        j["gops"] = r.avg_ts * ops_per_token / 1e9;
        if (peak.gops > 0) {
          j["peak_gops"] = peak.gops;
          j["peak_fraction"] = r.avg_ts * ops_per_token / 1e9 / peak.gops;
        }
      }
      out.push_back(j);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (auto topo = cpu::probe_topology()) {
    std::printf("cpu: %s; arena: %d threads, %s\n", cpu::describe(*topo).c_str(), threads,
                ctx.arena().pin_note().c_str());
  }
  std::printf("read bandwidth: %.1f GB/s (%s, %d threads, %zu MiB buffer); weights per token %.1f MiB "
              "-> roofline %.2f tokens/s\n\n",
              bw.gb_per_s, bw.isa, bw.threads, bw.bytes >> 20, bytes_per_token / 1048576.0, roofline_ts);
  if (any_prompt) {
    std::printf("prompt: %.2f GOP of matrix work per token", ops_per_token / 1e9);
    if (peak.gops > 0) std::printf("; %s peak %.0f GOPS (%d threads)", peak.kind, peak.gops, peak.threads);
    std::printf("\n\n");
  }
  std::printf("| %-32s | %10s | %8s | %7s | %5s | %8s | %20s | %9s |\n", "model", "size", "params", "threads",
              "batch", "test", "t/s", "roofline");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(34, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(9, '-').c_str(), std::string(7, '-').c_str(),
              std::string(10, '-').c_str(), std::string(22, '-').c_str(), std::string(11, '-').c_str());
  std::string name = m.model.substr(m.model.find_last_of('/') + 1);
  for (const BenchRow& r : rows) {
    char ts[64], roof[32] = "";
    std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r.avg_ts, r.stddev_ts);
    if (r.n_gen > 0) std::snprintf(roof, sizeof roof, "%.1f%%", 100 * r.avg_ts / (roofline_ts * r.n_seq));
    if (r.n_prompt > 0 && peak.gops > 0)
      std::snprintf(roof, sizeof roof, "%.1f%% pk", 100 * r.avg_ts * ops_per_token / 1e9 / peak.gops);
    std::printf("| %-32s | %6.1f MiB | %6.1fM | %7d | %5d | %8s | %20s | %9s |\n", name.c_str(),
                model.weight_bytes() / 1048576.0, n_params / 1e6, threads, r.n_seq, r.test.c_str(), ts, roof);
  }
  if (o.profile)
    for (const BenchRow& r : rows)
      if (r.n_gen > 0) print_profile(r, bw.gb_per_s);
  return 0;
}

}  // namespace tandem::cli
