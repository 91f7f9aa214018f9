// Sampler: turns one step's logits into a token, the way llama.cpp's default chain does.
//
// Order of the stages (llama.cpp's common sampler, less the ones Tandem does not have):
//   1. penalties over the last `repeat_last_n` accepted tokens: repetition penalty
//      (logit > 0 ? logit / penalty : logit * penalty), then
//      logit -= count * frequency_penalty + (count > 0) * presence_penalty;
//   2. temperature == 0: argmax (ties go to the lowest token id), no random draw;
//   3. otherwise: top-k, top-p, min-p (each on probabilities at temperature 1 of the
//      candidates left by the stage before), then temperature, softmax and one draw
//      over the kept candidates in sorted order (in id order when no stage truncates).
//      Every such call consumes exactly one 64-bit output of the generator.
//
// Reproducible: the generator is std::mt19937_64 (its output sequence is fixed by the C++
// standard) and the draw uses our own arithmetic (a double in [0, 1) from the top 53 bits),
// never std:: distributions, whose results differ between standard libraries.
// Candidates are ordered by logit, descending, ties by ascending id, so truncation at a
// tie is deterministic too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/status.h"

namespace tandem {

struct SamplerConfig {
  float temperature = 0.8f;       // >= 0; 0: greedy
  int32_t top_k = 40;             // <= 0: off; larger than the vocab: off
  float top_p = 0.95f;            // (0, 1]; 1: off
  float min_p = 0.05f;            // [0, 1]; 0: off; keeps p >= min_p * p_max
  float repeat_penalty = 1.0f;    // > 0; 1: off
  int32_t repeat_last_n = 64;     // accepted tokens the penalties see; 0: none, -1: all since reset
  float presence_penalty = 0.f;   // any finite value; 0: off
  float frequency_penalty = 0.f;  // any finite value; 0: off
  uint64_t seed = 0;              // the sampler never picks one itself: the CLI draws it when
                                  // the user gives none, so runs are reproducible from the log
};

// One candidate token of the working set.
struct TokenLogit {
  int32_t id;
  float logit;
};

class Sampler {
 public:
  // Checks the config; errors (kInvalidArgument) name the field, its value and the valid range.
  static Result<Sampler> create(const SamplerConfig& config, int32_t n_vocab);

  // logits: [n_vocab] for one sequence and step; not modified. Returns a token id in
  // [0, n_vocab). If every logit is -inf or NaN, returns 0 (nothing else is defined).
  // NaN logits count as -inf, +inf as the largest float.
  int32_t sample(std::span<const float> logits);

  // Records a token for the penalties (the prompt's tokens too, if they should count,
  // as llama.cpp's main example does). token must be in [0, n_vocab).
  void accept(int32_t token);

  // Forgets the history and re-seeds the generator: the sampler behaves as new.
  void reset();

  const SamplerConfig& config() const { return config_; }
  int32_t n_vocab() const { return n_vocab_; }
  // The accepted tokens the penalties see now, oldest first.
  std::span<const int32_t> penalty_window() const;

 private:
  Sampler(const SamplerConfig& config, int32_t n_vocab);

  SamplerConfig config_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;      // accepted tokens, oldest first; trimmed in accept()
  std::vector<float> work_;           // [n_vocab] penalised logits of the current step
  std::vector<TokenLogit> cand_;      // [n_vocab] candidates of the current step
  std::vector<int32_t> count_buf_;    // scratch for counting the penalty window
};

// The stages, public for tests and for callers that build their own chain.
namespace sampling {

// Applies the three penalties in place to logits [n_vocab] for the tokens of `recent`
// (every id must be in [0, n_vocab)). scratch is reused storage; its contents are lost.
void apply_penalties(std::span<float> logits, std::span<const int32_t> recent,
                     float repeat_penalty, float presence_penalty, float frequency_penalty,
                     std::vector<int32_t>& scratch);

// Index of the largest logit, the lowest index among equals; NaN never wins; 0 if none is
// larger than -inf. logits must not be empty.
int32_t argmax(std::span<const float> logits);

// Orders the first `k` places of cands by logit descending, ties by ascending id, so
// that cands[0, k) holds the k best in order (the rest is left unordered). k <= size.
void sort_top(std::span<TokenLogit> cands, std::size_t k);

// Each takes candidates sorted as sort_top leaves them and returns how many of the first
// ones to keep (at least 1 when sorted is not empty).
// top-p: the minimal prefix whose probability mass (softmax at temperature 1 over `sorted`)
// is >= p. p >= 1 keeps all.
std::size_t top_p_keep(std::span<const TokenLogit> sorted, float p);
// min-p: the tokens with probability >= min_p * (probability of the first). min_p <= 0 keeps all.
std::size_t min_p_keep(std::span<const TokenLogit> sorted, float min_p);

// A double in [0, 1) from the top 53 bits of one 64-bit draw.
double uniform01(std::mt19937_64& rng);

// Picks an index into cands (any order, not empty), with probability
// softmax(logit / temperature), using u in [0, 1): the first index whose cumulative weight
// exceeds u * total. temperature > 0; tokens of weight 0 are never picked.
std::size_t draw(std::span<const TokenLogit> cands, float temperature, double u);

}  // namespace sampling
}  // namespace tandem
