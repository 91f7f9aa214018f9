// tandem run: the continuation goes to stdout as it is generated (whole characters
// only; invalid bytes are passed through once they cannot start a character), the
// statistics to stderr.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/gpu_setup.h"
#include "cli/raw_utf8_writer.h"
#include "engine/generate.h"
#include "engine/runtime.h"
#include "engine/utf8.h"

namespace tandem::cli {

int cmd_run(const RunOptions& o) {
  auto cfg = context_config(o.m);
  if (!cfg) return fail(cfg.error());
  auto gpu = setup_gpu(GpuRequest{o.m.model, o.m.gpu, o.m.ctx, o.m.kv_type}, /*force_plan=*/false, stderr);
  if (!gpu) return fail(gpu.error());
  auto rt = open_runtime_on(*gpu, o.m.model, *cfg);
  if (!rt) return fail(rt.error());
  const Tokenizer& tok = *rt->tokenizer;
  auto prompt = tok.encode(o.prompt, tok.add_bos_default(), o.special);
  if (!prompt) return fail(prompt.error());
  if (prompt->empty()) return fail("the prompt is empty and the model adds no BOS token: nothing to run");

  const SamplerConfig sc = sampler_config(o.s);
  auto sampler = Sampler::create(sc, rt->model->config().n_vocab);
  if (!sampler) return fail(sampler.error());

  GenerateOptions go;
  go.n_predict = o.n_predict;
  go.ignore_eos = o.ignore_eos;
  RawUtf8Writer out(stdout);
  auto st = generate(*rt->context, tok, *sampler, *prompt, go,
                     [&](int32_t, std::string_view piece) {
                       out.write(piece);
                       return true;
                     });
  out.finish();
  if (!st) return fail(st.error());
  std::fprintf(stderr,
               "\ntandem: seed %llu | prompt %d tokens, %.2f tok/s | generated %d tokens, %.2f tok/s%s\n",
               static_cast<unsigned long long>(sc.seed), st->n_prompt,
               st->prefill_seconds > 0 ? st->n_prompt / st->prefill_seconds : 0.0, st->n_generated,
               st->decode_seconds > 0 ? st->n_generated / st->decode_seconds : 0.0,
               st->stopped_by_eog ? " | end of generation" : "");
  return 0;
}

}  // namespace tandem::cli
