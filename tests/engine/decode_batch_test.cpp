// Context::decode_batch: several sequences in one forward pass give each sequence the
// logits that decoding it alone with decode() gives, bit for bit; bad batches are
// refused, naming the entry and the reason, and change nothing.
//
// Why bit for bit (the tightest true bound, so the tests assert equality): batching
// only concatenates token rows. Every op but attention works on each token row alone,
// with an order of arithmetic that does not depend on the other rows: embedding rows,
// RMSNorm per row, the matmuls (per token row: quantized weights take integer dot
// products, bit-identical to the reference on every ISA; f32/f16/bf16 run the same
// GEMV row kernel per token whatever the tiling of rows or tokens), biases, SiLU
// (elementwise; its masked tail is the same polynomial), residuals, RoPE at the
// token's own position. Attention runs per sequence over that sequence's block table:
// either attention_decode_one per token or attention_decode, which compute the same
// thing for a segment unless attention_decode splits a lone token's long context into
// ranges; the Context makes that choice per sequence, from the sequence alone, so it
// is the same in a batch as alone. No sum ever mixes two token rows. The cases below
// cover every path: prefill chunks, single tokens sharing one pass, long contexts that
// split (twice as many threads as KV heads, >= 256 tokens), forks (copy-on-write of a shared
// partial block), truncation, f32/f16/bf16/quantized weights, biases (qwen2).
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/benchmark.h"
#include "engine/device_compare.h"
#include "engine/runtime.h"
#include "test_data.h"

namespace tandem {
namespace {

using testing::apply;
using testing::CaseName;
using testing::Edit;
using testing::entries_of;
using testing::Job;
using testing::load_model;
using testing::random_tokens;
using testing::Step;

// Index and size of the first difference of two float rows, or "" when bit-identical.
std::string first_difference(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) return "size " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      std::ostringstream os;
      os << std::setprecision(9) << "index " << i << ": " << got[i] << " vs " << want[i] << " (|d| "
         << std::abs(got[i] - want[i]) << ")";
      return os.str();
    }
  return "";
}

// Runs `steps` on two fresh contexts of `model`: one decode_batch per step on one,
// one decode() per job on the other, and expects equal logits and equal n_past.
void expect_batch_matches_alone(const Model& model, const ContextConfig& cc, const std::vector<Step>& steps) {
  auto batched = Context::create(model, cc);
  auto alone = Context::create(model, cc);
  ASSERT_TRUE(batched && alone);
  const auto n_vocab = static_cast<size_t>(model.config().n_vocab);
  for (size_t si = 0; si < steps.size(); ++si) {
    SCOPED_TRACE("step " + std::to_string(si));
    for (const Edit& e : steps[si].edits) {
      apply(**batched, e);
      apply(**alone, e);
    }
    const std::vector<Job>& jobs = steps[si].jobs;
    auto out = (*batched)->decode_batch(entries_of(jobs));
    ASSERT_TRUE(out) << out.error().message();
    ASSERT_EQ(out->first_row.size(), jobs.size() + 1);
    EXPECT_EQ(out->n_vocab, static_cast<int32_t>(n_vocab));
    int64_t rows = 0;
    for (const Job& j : jobs) rows += j.all_logits ? static_cast<int64_t>(j.tokens.size()) : 1;
    ASSERT_EQ(out->n_rows(), rows);
    ASSERT_EQ(out->logits.size(), static_cast<size_t>(rows) * n_vocab);
    // Copy the batch's rows: the alone context's decodes do not touch them, but keep
    // the comparison independent of buffer lifetimes.
    const std::vector<float> got(out->logits.begin(), out->logits.end());
    const std::vector<int64_t> first(out->first_row.begin(), out->first_row.end());
    for (size_t e = 0; e < jobs.size(); ++e) {
      const Job& j = jobs[e];
      auto want = (*alone)->decode(j.tokens, j.all_logits, j.seq);
      ASSERT_TRUE(want) << want.error().message();
      const std::span<const float> mine(got.data() + first[e] * static_cast<int64_t>(n_vocab),
                                        static_cast<size_t>(first[e + 1] - first[e]) * n_vocab);
      EXPECT_EQ(first_difference(mine, *want), "")
          << "entry " << e << " (sequence " << j.seq << ", " << j.tokens.size() << " tokens)";
      EXPECT_EQ((*batched)->n_past(j.seq), (*alone)->n_past(j.seq));
    }
  }
}

// Mixed batches on 6 sequences, blocks of 4 tokens: prefill chunks with and without all
// logits, one-token decodes, forks with a shared partial last block, truncation, an
// empty sequence joining late, entries not in sequence order, then steps of six
// one-token decodes (which share one attention pass on 2 threads).
std::vector<Step> mixed_steps(int32_t n_vocab) {
  std::mt19937 rng(7);
  const auto toks = [&](size_t n) { return random_tokens(rng, n_vocab, n); };
  std::vector<Step> s;
  s.push_back({{}, {{0, toks(13), true}, {1, toks(7), false}, {2, toks(1), false}}});
  s.push_back({{{Edit::kFork, 0, 3}, {Edit::kFork, 1, 4}},
               {{3, toks(1), false}, {0, toks(1), true}, {4, toks(5), true}, {2, toks(1), false}, {1, toks(2), false}}});
  s.push_back({{{Edit::kTruncate, 0, 9}, {Edit::kTruncate, 4, 3}},
               {{0, toks(3), true}, {4, toks(1), false}, {5, toks(4), false}, {3, toks(1), false}}});
  for (int k = 0; k < 4; ++k) {
    std::vector<Job> jobs;
    for (SeqId q : {5, 0, 1, 2, 3, 4}) jobs.push_back({q, toks(1), k % 2 == 1});
    s.push_back({{}, jobs});
  }
  s.push_back({{{Edit::kFork, 2, 1}}, {{1, toks(1), false}, {2, toks(1), false}}});  // one token each on 2 threads
  return s;
}

class DecodeBatch : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeBatch, MatchesEachSequenceAlone) {
  const std::string path = testing::test_data_path(GetParam());
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  for (DType kv : {DType::kF16, DType::kF32}) {
    SCOPED_TRACE(dtype_name(kv));
    ContextConfig cc;
    cc.n_ctx = 48;
    cc.n_seq = 6;
    cc.n_threads = 2;
    cc.block_tokens = 4;
    cc.kv_type = kv;
    expect_batch_matches_alone(*model, cc, mixed_steps(model->config().n_vocab));
  }
}

// Long contexts on twice as many threads as KV heads: a lone decode token with >= 256
// cached tokens is split into context ranges (attention_splits), whose merge rounds
// differently from one pass (a batch that pooled such tokens fails this test); in a
// batch it must be split too.
TEST_P(DecodeBatch, MatchesAloneWithSplitLongContexts) {
  const std::string path = testing::test_data_path(GetParam());
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 300;
  cc.n_seq = 4;
  cc.n_threads = 2 * model->config().n_head_kv;  // more than the cores here: fine for results
  const int32_t nv = model->config().n_vocab;
  std::mt19937 rng(11);
  std::vector<Step> s;
  s.push_back({{}, {{0, random_tokens(rng, nv, 150), false}, {1, random_tokens(rng, nv, 20), false}}});
  s.push_back({{}, {{0, random_tokens(rng, nv, 120), false}, {1, random_tokens(rng, nv, 1), false}}});
  const auto one_each = [&](std::initializer_list<SeqId> order) {
    std::vector<Job> jobs;
    for (SeqId q : order) jobs.push_back({q, random_tokens(rng, nv, 1), false});
    return jobs;
  };
  // Sequences 0 and 2 (a fork of 0: 270 cached) split; 1 (21) and 3 (empty) do not.
  s.push_back({{{Edit::kFork, 0, 2}}, one_each({0, 1, 2, 3})});
  for (int k = 0; k < 4; ++k) s.push_back({{}, one_each({2, 0, 3, 1})});
  expect_batch_matches_alone(*model, cc, s);
}

INSTANTIATE_TEST_SUITE_P(Models, DecodeBatch,
                         ::testing::Values("models/synthetic/tiny-llama-spm512-q4_0.gguf",
                                           "models/synthetic/tiny-llama-spm512-q4_k_m.gguf",
                                           "models/synthetic/tiny-llama-spm512-f16.gguf",
                                           "models/synthetic/tiny-llama-spm512-bf16.gguf",
                                           "models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf",
                                           "models/stories260K.gguf"),
                         CaseName());

// A context with a history on sequences 0 and 1 (2 empty), and everything about it a
// refused batch must leave alone.
struct Snapshot {
  std::vector<int32_t> n_past;
  int32_t free_blocks;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Context& c) {
  Snapshot s{{}, c.kv().pool().n_free()};
  for (SeqId q = 0; q < c.n_seq(); ++q) s.n_past.push_back(c.n_past(q));
  return s;
}

TEST(DecodeBatchErrors, NameTheEntryAndChangeNothing) {
  const std::string path = testing::test_data_path("models/synthetic/tiny-llama-spm512-q4_0.gguf");
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 16;
  cc.n_seq = 3;
  cc.n_threads = 2;
  cc.block_tokens = 4;
  auto ctx = Context::create(*model, cc);
  auto ref = Context::create(*model, cc);
  ASSERT_TRUE(ctx && ref);
  const std::vector<int32_t> p0 = {1, 50, 60, 70, 80}, p1 = {1, 9, 10};
  for (Context* c : {ctx->get(), ref->get()}) {
    ASSERT_TRUE(c->decode(p0, false, 0));
    ASSERT_TRUE(c->decode(p1, false, 1));
  }
  const Snapshot before = snapshot(**ctx);
  const std::vector<int32_t> one = {42}, three = {3, 4, 5}, twelve(12, 7), bad = {3, 4, 512};
  struct Case {
    std::vector<DecodeEntry> entries;
    Code code;
    std::string message;  // a part of the message
  };
  const std::vector<Case> cases = {
      {{}, Code::kInvalidArgument, "empty batch"},
      {{{2, one, false}, {3, one, false}}, Code::kInvalidArgument, "batch entry 1 (sequence 3): out of range [0, 3)"},
      {{{-1, one, false}}, Code::kInvalidArgument, "sequence -1: out of range [0, 3)"},
      {{{0, one, false}, {1, one, false}, {0, three, false}}, Code::kInvalidArgument,
       "batch entry 2 (sequence 0): the sequence is already batch entry 0"},
      {{{2, one, false}, {1, {}, false}}, Code::kInvalidArgument, "batch entry 1 (sequence 1): decode of no tokens"},
      {{{2, one, false}, {1, bad, true}}, Code::kInvalidArgument,
       "batch entry 1 (sequence 1): token 512 at index 2 is outside the vocabulary [0, 512)"},
      {{{2, three, false}, {1, three, false}, {0, twelve, false}}, Code::kOutOfRange,
       "batch entry 2 (sequence 0): context full: 5 cached + 12 new tokens exceed the context of 16"},
  };
  for (const Case& c : cases) {
    auto r = (*ctx)->decode_batch(c.entries);
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().code(), c.code) << r.error().message();
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
    EXPECT_EQ(snapshot(**ctx), before) << c.message;
  }
  // decode() reports through the same checks, without the batch words.
  auto r = (*ctx)->decode(twelve, false, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kOutOfRange);
  EXPECT_EQ(r.error().message(), "sequence 0: context full: 5 cached + 12 new tokens exceed the context of 16");
  EXPECT_EQ(snapshot(**ctx), before);

  // The cache contents are untouched too: the next batch gives what a context that
  // never saw the refused batches gives.
  const std::vector<DecodeEntry> next = {{0, three, true}, {1, one, false}, {2, three, false}};
  auto got = (*ctx)->decode_batch(next);
  auto want = (*ref)->decode_batch(next);
  ASSERT_TRUE(got && want);
  EXPECT_EQ(first_difference(got->logits, want->logits), "");
}

TEST(DecodeBatchErrors, FullContextStillTakesOtherSequences) {
  const std::string path = testing::test_data_path("models/synthetic/tiny-llama-spm512-q4_0.gguf");
  TANDEM_REQUIRE_DATA(path);
  auto model = load_model(path);
  ASSERT_NE(model, nullptr);
  ContextConfig cc;
  cc.n_ctx = 8;
  cc.n_seq = 2;
  cc.n_threads = 1;
  auto ctx = Context::create(*model, cc);
  ASSERT_TRUE(ctx);
  const std::vector<int32_t> eight(8, 5), one = {6};
  ASSERT_TRUE((*ctx)->decode(eight, false, 0));  // sequence 0 is now full
  auto full = (*ctx)->decode_batch(std::vector<DecodeEntry>{{1, one, false}, {0, one, false}});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Code::kOutOfRange);
  EXPECT_EQ((*ctx)->n_past(1), 0);  // entry 0 was valid, but the batch as a whole was refused
  auto ok = (*ctx)->decode_batch(std::vector<DecodeEntry>{{1, eight, true}});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->n_rows(), 8);
  EXPECT_EQ((*ctx)->n_past(1), 8);
}

// bench_generation with several sequences: n_seq steps' worth of tokens per step, the
// profile counts steps (forward passes), every sequence is cleared again afterwards.
TEST(BenchGeneration, BatchOfSequences) {
  const std::string path = testing::test_data_path("models/synthetic/tiny-llama-spm512-q4_0.gguf");
  TANDEM_REQUIRE_DATA(path);
  ContextConfig cc;
  cc.n_ctx = 16;
  cc.n_seq = 3;
  cc.n_threads = 2;
  auto rt = open_runtime(path, cc);
  ASSERT_TRUE(rt) << rt.error().message();
  Context& ctx = *rt->context;
  auto r = bench_generation(ctx, 8, 2, 1, /*profile=*/true, /*n_seq=*/3);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->test, "tg8");
  EXPECT_EQ(r->n_gen, 8);
  EXPECT_EQ(r->n_seq, 3);
  EXPECT_EQ(r->profile.passes, 2 * 8);  // one forward pass per step, warm-up not counted
  ASSERT_EQ(r->samples_ts.size(), 2u);
  // Tokens per second count all three sequences: 2 reps * 8 steps * 3 tokens in r->seconds.
  double steps_s = 0;
  for (double ts : r->samples_ts) steps_s += 8.0 * 3 / ts;
  EXPECT_NEAR(steps_s, r->seconds, 1e-9 * r->seconds + 1e-12);
  for (SeqId q = 0; q < 3; ++q) EXPECT_EQ(ctx.n_past(q), 0);
  auto too_many = bench_generation(ctx, 8, 1, 1, false, 4);
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message().find("at least 4 sequences (have 3)"), std::string::npos)
      << too_many.error().message();
}

}  // namespace
}  // namespace tandem
