#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/common.h"
#include "engine/perplexity.h"
#include "engine/runtime.h"

namespace tandem::cli {

int cmd_perplexity(const PerplexityOptions& o) {
  std::ifstream in(o.file, std::ios::binary);
  if (!in) return fail(Error(Code::kNotFound) << o.file << ": cannot open the text file");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();  // as llama.cpp reads it

  ModelOptions m = o.m;
  m.ctx = o.ctx;
  auto cfg = context_config(m);
  if (!cfg) return fail(cfg.error());
  auto rt = open_runtime(o.m.model, *cfg);
  if (!rt) return fail(rt.error());
  const Tokenizer& tok = *rt->tokenizer;
  const bool add_bos = tok.add_bos_default();
  auto tokens = tok.encode(text, add_bos, false);
  if (!tokens) return fail(tokens.error());
  std::fprintf(stderr, "tandem: %zu tokens, chunks of %d\n", tokens->size(), o.ctx);
  auto r = perplexity(*rt->context, *tokens, o.ctx, add_bos ? tok.bos() : -1,
                      [](int32_t chunk, double ppl) { std::printf("[%d]%.4f\n", chunk, ppl); });
  if (!r) return fail(r.error());
  std::printf("scored %lld tokens in %d chunks\nPPL = %.4f\n", static_cast<long long>(r->n_scored),
              r->n_chunks, r->ppl);
  return 0;
}

}  // namespace tandem::cli
