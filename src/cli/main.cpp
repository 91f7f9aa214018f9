// The `tandem` command line: parses flags with CLI11 (this is the only translation unit
// that includes it, CLI11 is heavy to compile) and runs one subcommand.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace tandem::cli {
namespace {

void add_model_flags(CLI::App* app, ModelOptions& m) {
  app->add_option("-m,--model", m.model, "GGUF model file")->required();
  app->add_option("-t,--threads", m.threads, "CPU threads (0: all cores)")->check(CLI::NonNegativeNumber);
  app->add_option("-c,--ctx-size", m.ctx, "context size in tokens (0: min(model, 4096))")->check(CLI::NonNegativeNumber);
  app->add_option("--kv-type", m.kv_type, "KV cache type")->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
}

void add_gpu_flags(CLI::App* app, GpuOptions& g) {
  app->add_option("--gpu-mem", g.gpu_mem, "GPU memory budget, e.g. 16G or 512M (default: the device's free memory)");
  app->add_option("--gpu-layers", g.gpu_layers, "layers on the GPU: a number or auto (as many as fit)");
}

// run, chat and bench: the GPU flags, and the emulated GPU (not for inspect: nothing runs).
void add_run_gpu_flags(CLI::App* app, GpuOptions& g) {
  add_gpu_flags(app, g);
  app->add_flag("--gpu-emulate", g.emulate,
                "run the GPU's part of the plan on an emulated GPU: host memory, reference kernels, slow; for "
                "testing without a GPU (also TANDEM_GPU_EMULATE=1)");
}

void add_sampling_flags(CLI::App* app, SamplingOptions& s) {
  app->add_option("--temp", s.temp, "temperature (0: greedy)")->check(CLI::NonNegativeNumber);
  app->add_option("--seed", s.seed, "random seed (default: drawn and printed)");
  app->add_option("--top-k", s.top_k, "top-k (<= 0: off)");
  app->add_option("--top-p", s.top_p, "top-p (1: off)")->check(CLI::Range(0.0, 1.0));
  app->add_option("--min-p", s.min_p, "min-p (0: off)")->check(CLI::Range(0.0, 1.0));
  app->add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1: off)")->check(CLI::PositiveNumber);
  app->add_option("--repeat-last-n", s.repeat_last_n, "tokens the penalties look back over");
  app->add_option("--presence-penalty", s.presence_penalty, "presence penalty");
  app->add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty");
}

}  // namespace
}  // namespace tandem::cli

int main(int argc, char** argv) {
  using namespace tandem::cli;
  CLI::App app{"Tandem: LLM inference for machines whose GPU is too small for the job"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all");

  RunOptions run;
  CLI::App* c_run = app.add_subcommand("run", "generate a continuation of a prompt");
  add_model_flags(c_run, run.m);
  add_sampling_flags(c_run, run.s);
  add_run_gpu_flags(c_run, run.m.gpu);
  c_run->add_option("-p,--prompt", run.prompt, "prompt text (empty: BOS alone)");
  c_run->add_option("-n,--n-predict", run.n_predict, "tokens to generate (-1: until end)");
  c_run->add_flag("--ignore-eos", run.ignore_eos, "do not stop at end-of-generation tokens");
  c_run->add_flag("--special", run.special, "parse special-token text in the prompt");

  TokenizeOptions tok;
  CLI::App* c_tok = app.add_subcommand("tokenize", "print the token ids of a text");
  add_model_flags(c_tok, tok.m);
  c_tok->add_option("-p,--prompt", tok.prompt, "text")->required();
  c_tok->add_flag("--special", tok.special, "parse special-token text");
  c_tok->add_flag("--no-bos", tok.no_bos, "do not add BOS");

  PerplexityOptions ppl;
  CLI::App* c_ppl = app.add_subcommand("perplexity", "perplexity of a text file (llama.cpp's method)");
  c_ppl->add_option("-m,--model", ppl.m.model, "GGUF model file")->required();
  c_ppl->add_option("-t,--threads", ppl.m.threads, "CPU threads (0: all cores)");
  c_ppl->add_option("--kv-type", ppl.m.kv_type, "KV cache type")->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));
  c_ppl->add_option("-f,--file", ppl.file, "text file")->required();
  c_ppl->add_option("-c,--ctx-size", ppl.ctx, "chunk size in tokens")->check(CLI::PositiveNumber);

  ChatOptions chat;
  CLI::App* c_chat = app.add_subcommand("chat", "interactive multi-turn chat");
  add_model_flags(c_chat, chat.m);
  add_sampling_flags(c_chat, chat.s);
  add_run_gpu_flags(c_chat, chat.m.gpu);
  c_chat->add_option("--system", chat.system, "system prompt");
  c_chat->add_option("--chat-template", chat.chat_template, "override: llama2, llama3, chatml, mistral, phi3");
  c_chat->add_option("-n,--n-predict", chat.n_predict, "max tokens per answer (-1: until end of turn)");
  c_chat->add_flag("--ignore-eos", chat.ignore_eos, "do not end answers at end-of-generation tokens");

  BenchOptions bench;
  CLI::App* c_bench = app.add_subcommand("bench", "prompt processing and generation speed (like llama-bench)");
  add_model_flags(c_bench, bench.m);
  add_run_gpu_flags(c_bench, bench.m.gpu);
  c_bench->add_option("-p,--n-prompt", bench.n_prompt, "prompt sizes (0: skip)")->delimiter(',');
  c_bench->add_option("-n,--n-gen", bench.n_gen, "generation lengths (0: skip)")->delimiter(',');
  c_bench->add_option("--batch", bench.batch, "sequences generating together, one token each per step (tg tests)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  c_bench->add_option("-r,--repetitions", bench.reps, "repetitions of each test")->check(CLI::PositiveNumber);
  c_bench->add_flag("--json", bench.json, "print a JSON array of rows");
  c_bench->add_flag("--profile", bench.profile, "time each op of the generation tests (ms per step, weight GB/s vs read bandwidth)");

  InspectOptions insp;
  CLI::App* c_insp = app.add_subcommand("inspect", "print a GGUF file's metadata and tensors");
  c_insp->add_option("model", insp.model, "GGUF file")->required();
  c_insp->add_flag("--all", insp.all_metadata, "print long arrays in full");
  c_insp->add_flag("--plan", insp.plan, "print the GPU memory plan (with --gpu-mem, --gpu-layers, --ctx-size, --kv-type)");
  add_gpu_flags(c_insp, insp.gpu);
  c_insp->add_option("-c,--ctx-size", insp.ctx, "context size for --plan (0: min(model, 4096))")->check(CLI::NonNegativeNumber);
  c_insp->add_option("--kv-type", insp.kv_type, "KV cache type for --plan")->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}));

  MakeModelOptions mk;
  CLI::App* c_mk = app.add_subcommand("make-model", "write a random-weight model of a real shape");
  c_mk->add_option("--preset", mk.preset, "model shape")
      ->required()
      ->check(CLI::IsMember({"tiny", "llama3.2-1b", "llama2-7b", "llama3.1-8b", "qwen2.5-0.5b"}));
  c_mk->add_option("--type", mk.type, "weight type (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q4_k q5_k q6_k q3_k_m q4_k_m q5_k_m)");
  c_mk->add_option("-o,--out", mk.out, "output GGUF file")->required();
  c_mk->add_option("--vocab", mk.vocab, "copy the vocabulary of this GGUF file");
  c_mk->add_option("--tiktoken", mk.tiktoken, "build the vocabulary from a tiktoken tokenizer.model");
  c_mk->add_option("--seed", mk.seed, "weight seed");
  c_mk->add_option("-t,--threads", mk.threads, "threads (0: all cores)");

  bool known = argc < 2 || argv[1][0] == '-';
  for (const CLI::App* sub : app.get_subcommands({}))
    if (argc > 1 && sub->get_name() == argv[1]) known = true;
  if (!known) {
    std::fprintf(stderr, "tandem: error: unknown command '%s' (run, chat, tokenize, perplexity, bench, inspect, make-model; try --help)\n",
                 argv[1]);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tandem: error: %s (try --help)\n", e.what());
    return 2;
  }

  // The environment is read here, once, like the flags.
  if (const char* e = std::getenv("TANDEM_GPU_EMULATE"); e != nullptr && std::string(e) == "1")
    for (GpuOptions* g : {&run.m.gpu, &chat.m.gpu, &bench.m.gpu}) g->emulate = true;
  if (const char* e = std::getenv("TANDEM_GPU_EMULATE_REFUSE"); e != nullptr)
    for (GpuOptions* g : {&run.m.gpu, &chat.m.gpu, &bench.m.gpu}) g->emulate_refusal = e;

  try {
    if (c_run->parsed()) return cmd_run(run);
    if (c_tok->parsed()) return cmd_tokenize(tok);
    if (c_bench->parsed()) return cmd_bench(bench);
    if (c_ppl->parsed()) return cmd_perplexity(ppl);
    if (c_chat->parsed()) return cmd_chat(chat);
    if (c_insp->parsed()) return cmd_inspect(insp);
    if (c_mk->parsed()) return cmd_make_model(mk);
  } catch (const std::exception& e) {  // a library threw: report it, never crash
    std::fprintf(stderr, "tandem: error: %s\n", e.what());
    return 1;
  }
  return 2;
}
