// Prompt-processing and generation speed, measured like llama-bench: pp = one batch of
// n random tokens (BOS first) into an empty cache; tg = n single-token decodes from an
// empty cache, or with n_seq > 1 (llama-batched-bench's idea) n steps of n_seq
// sequences decoding one token each, all in one decode_batch per step. Each test runs
// once to warm up, then `reps` times.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/context.h"
#include "engine/step_profile.h"

namespace tandem {

struct BenchRow {
  std::string test;            // "pp512", "tg128"
  int32_t n_prompt = 0;
  int32_t n_gen = 0;           // tokens generated per sequence
  int32_t n_seq = 1;           // sequences decoded together (tg); pp runs one
  std::vector<double> samples_ts;  // tokens per second of each repetition, over all sequences
  double avg_ts = 0;
  double stddev_ts = 0;
  double seconds = 0;          // wall time of the counted repetitions
  StepProfile profile;         // op times of the counted repetitions, when asked for
};

Result<BenchRow> bench_prompt(Context& ctx, int32_t n_prompt, int32_t reps, int32_t bos);
// With `profile`, the counted repetitions also fill BenchRow::profile (the warm-up does
// not, and the Context's profile is off again on return). Sequences 0..n_seq-1 each
// start from an empty cache with `bos` (or token 0) and go on greedily; tokens per
// second count every sequence's tokens. Needs a Context of at least n_seq sequences.
Result<BenchRow> bench_generation(Context& ctx, int32_t n_gen, int32_t reps, int32_t bos,
                                  bool profile = false, int32_t n_seq = 1);

// Bytes of weights one decode step reads: every tensor once, except that an untied
// token embedding is read one row per token.
uint64_t weight_bytes_per_token(const Model& m);

}  // namespace tandem
