#include "engine/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <span>
#include <vector>

namespace tandem {
namespace {

void summarize(BenchRow& r) {
  double sum = 0;
  for (double v : r.samples_ts) sum += v;
  r.avg_ts = sum / static_cast<double>(r.samples_ts.size());
  double var = 0;
  for (double v : r.samples_ts) var += (v - r.avg_ts) * (v - r.avg_ts);
  r.stddev_ts = r.samples_ts.size() > 1 ? std::sqrt(var / static_cast<double>(r.samples_ts.size() - 1)) : 0;
}

// The Context's profile while it lives (also when a decode error returns early).
class ProfileScope {
 public:
  ProfileScope(Context& ctx, StepProfile* p) : ctx_(ctx) { ctx_.set_profile(p); }
  ~ProfileScope() { ctx_.set_profile(nullptr); }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  Context& ctx_;
};

// The first index of the largest value. A plain loop: at -O2, std::max_element over a
// 150k-token vocabulary row takes ~0.5 ms here, five times as long, which at batch 8
// was a sixth of a decode step.
int32_t argmax(std::span<const float> row) {
  size_t best = 0;
  float m = row[0];
  for (size_t i = 1; i < row.size(); ++i)
    if (row[i] > m) {
      m = row[i];
      best = i;
    }
  return static_cast<int32_t>(best);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<BenchRow> bench_prompt(Context& ctx, int32_t n_prompt, int32_t reps, int32_t bos) {
  if (n_prompt <= 0 || n_prompt > ctx.n_ctx())
    return Error(Code::kInvalidArgument) << "pp" << n_prompt << " needs a context of at least " << n_prompt
                                         << " tokens (have " << ctx.n_ctx() << ")";
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> tok(0, ctx.model().config().n_vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
  for (int32_t& t : tokens) t = tok(rng);
  if (bos >= 0) tokens[0] = bos;
  BenchRow r;
  r.test = "pp" + std::to_string(n_prompt);
  r.n_prompt = n_prompt;
  for (int32_t i = -1; i < reps; ++i) {  // i = -1: warm-up
    ctx.truncate(0, 0);
    const double t0 = now_s();
    TANDEM_TRY(ctx.decode(tokens, false));
    const double dt = now_s() - t0;
    if (i >= 0) r.samples_ts.push_back(n_prompt / dt);
  }
  ctx.truncate(0, 0);
  summarize(r);
  return r;
}

Result<BenchRow> bench_generation(Context& ctx, int32_t n_gen, int32_t reps, int32_t bos, bool profile,
                                  int32_t n_seq) {
  if (n_gen <= 0 || n_gen > ctx.n_ctx())
    return Error(Code::kInvalidArgument) << "tg" << n_gen << " needs a context of at least " << n_gen
                                         << " tokens (have " << ctx.n_ctx() << ")";
  if (n_seq <= 0 || n_seq > ctx.n_seq())
    return Error(Code::kInvalidArgument) << "tg" << n_gen << " with " << n_seq << " sequences needs a context of at least "
                                         << n_seq << " sequences (have " << ctx.n_seq() << ")";
  BenchRow r;
  r.test = "tg" + std::to_string(n_gen);
  r.n_gen = n_gen;
  r.n_seq = n_seq;
  const auto n = static_cast<size_t>(n_seq);
  std::vector<int32_t> next(n);       // [n_seq]: each sequence's next token
  std::vector<DecodeEntry> entries(n);  // entry i: sequence i, its one next token
  for (size_t i = 0; i < n; ++i) entries[i] = {static_cast<SeqId>(i), {&next[i], 1}, false};
  const auto clear = [&] {
    for (SeqId s = 0; s < n_seq; ++s) ctx.truncate(s, 0);
  };
  for (int32_t i = -1; i < reps; ++i) {
    clear();
    const ProfileScope scope(ctx, profile && i >= 0 ? &r.profile : nullptr);
    const double t0 = now_s();
    std::fill(next.begin(), next.end(), bos >= 0 ? bos : 0);
    for (int32_t k = 0; k < n_gen; ++k) {
      TANDEM_ASSIGN_OR_RETURN(const BatchLogits out, ctx.decode_batch(entries));
      // Greedy next tokens, sequences spread over the threads.
      ctx.arena().parallel_for(n_seq, 1, [&](int64_t e0, int64_t e1) {
        for (int64_t e = e0; e < e1; ++e) next[static_cast<size_t>(e)] = argmax(out.entry(static_cast<size_t>(e)));
      });
    }
    const double dt = now_s() - t0;
    if (i >= 0) {
      r.samples_ts.push_back(static_cast<double>(n_gen) * n_seq / dt);
      r.seconds += dt;
    }
  }
  clear();
  summarize(r);
  return r;
}

uint64_t weight_bytes_per_token(const Model& m) {
  uint64_t total = 0;
  for (const gguf::TensorInfo& t : m.file().tensors()) {
    if (t.name == "token_embd.weight" && !m.tied_output()) total += t.nbytes / t.rows();
    else total += t.nbytes;
  }
  return total;
}

}  // namespace tandem
