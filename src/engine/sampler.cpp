#include "engine/sampler.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace tandem {
namespace {

Status check_config(const SamplerConfig& c, int32_t n_vocab) {
  auto bad = [](const char* field, double v, const char* range) {
    return Error(Code::kInvalidArgument)
           << "sampler: " << field << " = " << v << " is invalid; expected " << range;
  };
  if (n_vocab <= 0) {
    return Error(Code::kInvalidArgument)
           << "sampler: n_vocab = " << n_vocab << " is invalid; expected > 0";
  }
  // Written so that NaN fails every check.
  if (!(c.temperature >= 0.f) || !std::isfinite(c.temperature))
    return bad("temperature", c.temperature, "a finite value >= 0 (0 = greedy)");
  if (!(c.top_p > 0.f && c.top_p <= 1.f))
    return bad("top_p", c.top_p, "a value in (0, 1] (1 = off)");
  if (!(c.min_p >= 0.f && c.min_p <= 1.f))
    return bad("min_p", c.min_p, "a value in [0, 1] (0 = off)");
  if (!(c.repeat_penalty > 0.f) || !std::isfinite(c.repeat_penalty))
    return bad("repeat_penalty", c.repeat_penalty, "a finite value > 0 (1 = off)");
  if (c.repeat_last_n < -1)
    return bad("repeat_last_n", c.repeat_last_n, ">= -1 (0 = no history, -1 = all since reset)");
  if (!std::isfinite(c.presence_penalty))
    return bad("presence_penalty", c.presence_penalty, "a finite value (0 = off)");
  if (!std::isfinite(c.frequency_penalty))
    return bad("frequency_penalty", c.frequency_penalty, "a finite value (0 = off)");
  return Status::ok();
}

bool penalties_off(const SamplerConfig& c) {
  return c.repeat_penalty == 1.f && c.presence_penalty == 0.f && c.frequency_penalty == 0.f;
}

// NaN never wins, +inf is the largest finite float: keeps the softmax arithmetic finite.
float sanitize(float v) {
  if (std::isnan(v)) return -std::numeric_limits<float>::infinity();
  if (v == std::numeric_limits<float>::infinity()) return FLT_MAX;
  return v;
}

// top-k, top-p, min-p over cands [n_vocab] (in id order on entry; reordered). Returns the
// kept candidates sorted as sort_top leaves them, or all of them in id order when no stage
// truncates. The result equals the plain chain (sort everything, then top_k, top_p_keep,
// min_p_keep) without sorting the whole vocab when top-k is off:
// - min-p keeps exactly the tokens with exp(l - l_max) >= min_p, whatever top-p keeps
//   before it, so those are partitioned to the front and only they are ever sorted;
// - top-p needs the mass of all candidates (an O(n) sum) and then only as long a sorted
//   prefix as reaches p of it, which is sorted in growing steps.
std::span<const TokenLogit> truncate(std::span<TokenLogit> cands, const SamplerConfig& c) {
  const std::size_t n = cands.size();
  if (c.top_k > 0 && static_cast<std::size_t>(c.top_k) < n) {
    const auto k = static_cast<std::size_t>(c.top_k);
    sampling::sort_top(cands, k);
    if (cands[0].logit == -std::numeric_limits<float>::infinity()) return cands.first(1);
    std::span<const TokenLogit> kept = cands.first(k);
    kept = kept.first(sampling::top_p_keep(kept, c.top_p));
    return kept.first(sampling::min_p_keep(kept, c.min_p));
  }
  const bool use_top_p = c.top_p < 1.f;
  const bool use_min_p = c.min_p > 0.f;
  if (!use_top_p && !use_min_p) return cands;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const TokenLogit& t : cands) max_logit = std::max(max_logit, t.logit);
  if (max_logit == -std::numeric_limits<float>::infinity()) return cands.first(1);
  const double max = max_logit;

  std::size_t m = n;  // candidates min-p keeps, moved to the front
  if (use_min_p) {
    auto it = std::partition(cands.begin(), cands.end(), [&](const TokenLogit& t) {
      return std::exp(double(t.logit) - max) >= double(c.min_p);
    });
    m = static_cast<std::size_t>(it - cands.begin());
  }
  std::span<TokenLogit> front = cands.first(m);
  if (!use_top_p) {
    sampling::sort_top(front, m);
    return front;
  }
  double total = 0;
  for (const TokenLogit& t : cands) total += std::exp(double(t.logit) - max);
  const double target = double(c.top_p) * total;
  for (std::size_t k = std::min<std::size_t>(m, 64);; k = std::min(m, k * 8)) {
    sampling::sort_top(front, k);
    double cum = 0;
    for (std::size_t i = 0; i < k; ++i) {
      cum += std::exp(double(front[i].logit) - max);
      if (cum >= target) return front.first(i + 1);
    }
    if (k == m) return front;  // top-p would keep more than min-p does
  }
}

}  // namespace

namespace sampling {

void apply_penalties(std::span<float> logits, std::span<const int32_t> recent,
                     float repeat_penalty, float presence_penalty, float frequency_penalty,
                     std::vector<int32_t>& scratch) {
  if (recent.empty()) return;
  scratch.assign(recent.begin(), recent.end());
  std::sort(scratch.begin(), scratch.end());
  for (std::size_t i = 0; i < scratch.size();) {
    const int32_t token = scratch[i];
    std::size_t j = i;
    while (j < scratch.size() && scratch[j] == token) ++j;
    const auto count = static_cast<float>(j - i);
    TANDEM_CHECK(token >= 0 && static_cast<std::size_t>(token) < logits.size())
        << "penalty history holds token " << token << ", vocab has " << logits.size();
    float& l = logits[static_cast<std::size_t>(token)];
    l = l > 0.f ? l / repeat_penalty : l * repeat_penalty;
    l -= count * frequency_penalty + presence_penalty;
    i = j;
  }
}

int32_t argmax(std::span<const float> logits) {
  TANDEM_CHECK(!logits.empty()) << "argmax of no logits";
  std::size_t best = 0;
  float best_v = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_v) {  // strict: the first of equals stays; NaN compares false
      best_v = logits[i];
      best = i;
    }
  }
  return static_cast<int32_t>(best);
}

void sort_top(std::span<TokenLogit> cands, std::size_t k) {
  TANDEM_CHECK(k <= cands.size()) << "sort_top k=" << k << " of " << cands.size();
  auto before = [](const TokenLogit& a, const TokenLogit& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (k == cands.size()) {
    std::sort(cands.begin(), cands.end(), before);
  } else {
    std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(k), cands.end(),
                      before);
  }
}

std::size_t top_p_keep(std::span<const TokenLogit> sorted, float p) {
  if (sorted.empty() || p >= 1.f) return sorted.size();
  const double max = sorted[0].logit;
  double total = 0;
  for (const TokenLogit& c : sorted) total += std::exp(double(c.logit) - max);
  const double target = double(p) * total;
  double cum = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    cum += std::exp(double(sorted[i].logit) - max);
    if (cum >= target) return i + 1;
  }
  return sorted.size();  // rounding left the sum a hair short of the target
}

std::size_t min_p_keep(std::span<const TokenLogit> sorted, float min_p) {
  if (sorted.empty() || min_p <= 0.f) return sorted.size();
  const double max = sorted[0].logit;
  std::size_t keep = 1;  // p_i / p_max = exp(l_i - l_max); the first always passes
  while (keep < sorted.size() && std::exp(double(sorted[keep].logit) - max) >= double(min_p)) {
    ++keep;
  }
  return keep;
}

double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

std::size_t draw(std::span<const TokenLogit> cands, float temperature, double u) {
  TANDEM_CHECK(!cands.empty() && temperature > 0.f) << "draw from " << cands.size()
                                                    << " candidates at T=" << temperature;
  float max_logit = cands[0].logit;
  for (const TokenLogit& c : cands) max_logit = std::max(max_logit, c.logit);
  const double max = max_logit;
  const double inv_t = 1.0 / double(temperature);
  double total = 0;
  for (const TokenLogit& c : cands) total += std::exp((double(c.logit) - max) * inv_t);
  const double target = u * total;
  double cum = 0;
  std::size_t last_positive = 0;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    const double w = std::exp((double(cands[i].logit) - max) * inv_t);
    if (w > 0) last_positive = i;
    cum += w;
    if (cum > target) return i;
  }
  return last_positive;  // u * total rounded up to the full sum
}

}  // namespace sampling

Sampler::Sampler(const SamplerConfig& config, int32_t n_vocab)
    : config_(config),
      n_vocab_(n_vocab),
      rng_(config.seed),
      work_(static_cast<std::size_t>(n_vocab)),
      cand_(static_cast<std::size_t>(n_vocab)) {}

Result<Sampler> Sampler::create(const SamplerConfig& config, int32_t n_vocab) {
  TANDEM_TRY(check_config(config, n_vocab));
  return Sampler(config, n_vocab);
}

std::span<const int32_t> Sampler::penalty_window() const {
  const std::size_t n = config_.repeat_last_n < 0
                            ? history_.size()
                            : std::min(history_.size(), std::size_t(config_.repeat_last_n));
  return std::span<const int32_t>(history_).last(n);
}

void Sampler::accept(int32_t token) {
  TANDEM_CHECK(token >= 0 && token < n_vocab_)
      << "accept(" << token << ") outside the vocab of " << n_vocab_;
  if (config_.repeat_last_n == 0) return;
  history_.push_back(token);
  // Trim in batches so accept() stays O(1) amortised.
  const auto n = static_cast<std::size_t>(config_.repeat_last_n);
  if (config_.repeat_last_n > 0 && history_.size() >= 2 * n + 64) {
    history_.erase(history_.begin(), history_.end() - static_cast<std::ptrdiff_t>(n));
  }
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(config_.seed);
}

int32_t Sampler::sample(std::span<const float> logits) {
  TANDEM_CHECK(logits.size() == work_.size())
      << "sample() got " << logits.size() << " logits, vocab has " << work_.size();
  std::span<const float> cur = logits;
  if (!penalties_off(config_)) {
    std::copy(logits.begin(), logits.end(), work_.begin());
    sampling::apply_penalties(work_, penalty_window(), config_.repeat_penalty,
                              config_.presence_penalty, config_.frequency_penalty, count_buf_);
    cur = work_;
  }
  if (config_.temperature == 0.f) return sampling::argmax(cur);

  for (std::size_t i = 0; i < cur.size(); ++i) {
    cand_[i] = TokenLogit{static_cast<int32_t>(i), sanitize(cur[i])};
  }
  const std::span<const TokenLogit> kept = truncate(cand_, config_);
  const double u = sampling::uniform01(rng_);  // one draw per call, even if one token is left
  if (kept.size() == 1) return kept[0].id;     // also "every logit is -inf"
  return kept[sampling::draw(kept, config_.temperature, u)].id;
}

}  // namespace tandem
