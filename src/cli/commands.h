// Options of each `tandem` subcommand, filled by main.cpp (the only file that sees
// CLI11), and the commands themselves. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::cli {

// GPU flags, as typed (parsed and checked by setup_gpu, cli/gpu_setup.h).
struct GpuOptions {
  std::optional<std::string> gpu_mem;     // --gpu-mem SIZE ("16G", "512M"): the GPU memory budget
  std::optional<std::string> gpu_layers;  // --gpu-layers N|auto
  bool emulate = false;                   // --gpu-emulate or TANDEM_GPU_EMULATE=1: an emulated GPU runs the plan
  std::string emulate_refusal;            // TANDEM_GPU_EMULATE_REFUSE=WHY: the emulated GPU refuses every model
                                          // (kUnsupported, WHY), to test the CPU fallback
};

struct ModelOptions {
  std::string model;
  int32_t threads = 0;        // 0: all cores
  int32_t ctx = 0;            // 0: min(model context, 4096)
  std::string kv_type = "f16";
  GpuOptions gpu;             // run, chat and bench only
};

struct SamplingOptions {
  float temp = 0.8f;
  std::optional<uint64_t> seed;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float presence_penalty = 0.f;
  float frequency_penalty = 0.f;
};

struct RunOptions {
  ModelOptions m;
  SamplingOptions s;
  std::string prompt;
  int32_t n_predict = 128;
  bool ignore_eos = false;
  bool special = false;       // parse special-token text in the prompt
};

struct TokenizeOptions {
  ModelOptions m;
  std::string prompt;
  bool special = false;
  bool no_bos = false;
};

struct PerplexityOptions {
  ModelOptions m;
  std::string file;
  int32_t ctx = 512;
};

struct ChatOptions {
  ModelOptions m;
  SamplingOptions s;
  std::string system;
  std::string chat_template;  // override: llama2, llama3, chatml, mistral, phi3
  int32_t n_predict = -1;
  bool ignore_eos = false;
};

struct InspectOptions {
  std::string model;
  bool all_metadata = false;
  bool plan = false;          // --plan: print the GPU memory plan instead
  GpuOptions gpu;
  int32_t ctx = 0;
  std::string kv_type = "f16";
};

struct MakeModelOptions {
  std::string preset;
  std::string type = "f16";
  std::string out;
  std::string vocab;     // a GGUF whose tokenizer.* keys are copied
  std::string tiktoken;  // a tiktoken tokenizer.model to build the vocab from
  uint64_t seed = 1;
  int32_t threads = 0;
};

struct BenchOptions {
  ModelOptions m;
  std::vector<int32_t> n_prompt{512};  // 0 skips
  std::vector<int32_t> n_gen{128};     // 0 skips
  std::vector<int32_t> batch{1};       // sequences decoded together in the generation tests
  int32_t reps = 5;
  bool json = false;
  bool profile = false;  // op-by-op times of the generation tests
};

int cmd_run(const RunOptions& o);
int cmd_bench(const BenchOptions& o);
int cmd_tokenize(const TokenizeOptions& o);
int cmd_perplexity(const PerplexityOptions& o);
int cmd_chat(const ChatOptions& o);
int cmd_inspect(const InspectOptions& o);
int cmd_make_model(const MakeModelOptions& o);

}  // namespace tandem::cli
