#include "engine/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

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

Result<BenchRow> bench_generation(Context& ctx, int32_t n_gen, int32_t reps, int32_t bos, bool profile) {
  if (n_gen <= 0 || n_gen > ctx.n_ctx())
    return Error(Code::kInvalidArgument) << "tg" << n_gen << " needs a context of at least " << n_gen
                                         << " tokens (have " << ctx.n_ctx() << ")";
  BenchRow r;
  r.test = "tg" + std::to_string(n_gen);
  r.n_gen = n_gen;
  const int32_t first[1] = {bos >= 0 ? bos : 0};
  for (int32_t i = -1; i < reps; ++i) {
    ctx.truncate(0, 0);
    const ProfileScope scope(ctx, profile && i >= 0 ? &r.profile : nullptr);
    const double t0 = now_s();
    int32_t token = first[0];
    for (int32_t k = 0; k < n_gen; ++k) {
      const int32_t one[1] = {token};
      TANDEM_ASSIGN_OR_RETURN(auto logits, ctx.decode(one, false));
      token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    const double dt = now_s() - t0;
    if (i >= 0) {
      r.samples_ts.push_back(n_gen / dt);
      r.seconds += dt;
    }
  }
  ctx.truncate(0, 0);
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
