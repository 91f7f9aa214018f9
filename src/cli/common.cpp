#include "cli/common.h"

#include <cstdio>
#include <random>

#include "core/dtype.h"

namespace tandem::cli {

int fail(const Error& e) {
  std::fprintf(stderr, "tandem: error: %s\n", e.message().c_str());
  return 1;
}

int fail(const std::string& message) { return fail(Error(Code::kInvalidArgument, message)); }

Result<ContextConfig> context_config(const ModelOptions& m) {
  ContextConfig c;
  c.n_threads = m.threads;
  c.n_ctx = m.ctx;
  const auto kv = parse_dtype(m.kv_type);
  if (!kv) return Error(Code::kInvalidArgument) << "unknown KV type '" << m.kv_type << "'";
  c.kv_type = *kv;
  return c;
}

SamplerConfig sampler_config(const SamplingOptions& s) {
  SamplerConfig c;
  c.temperature = s.temp;
  c.top_k = s.top_k;
  c.top_p = s.top_p;
  c.min_p = s.min_p;
  c.repeat_penalty = s.repeat_penalty;
  c.repeat_last_n = s.repeat_last_n;
  c.presence_penalty = s.presence_penalty;
  c.frequency_penalty = s.frequency_penalty;
  c.seed = s.seed ? *s.seed : std::random_device{}();
  return c;
}

}  // namespace tandem::cli
