// tandem make-model: writes a random-weight GGUF model of a real shape (the work is in
// engine/model_maker.h); prints progress on stderr (when it is a terminal) and a summary
// on stdout.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <unistd.h>

#include "cli/common.h"
#include "engine/model_maker.h"

namespace tandem::cli {

int cmd_make_model(const MakeModelOptions& o) {
  ModelMakerConfig c;
  c.preset = o.preset;
  c.type = o.type;
  c.out_path = o.out;
  c.vocab_path = o.vocab;
  c.tiktoken_path = o.tiktoken;
  c.seed = o.seed;
  c.threads = o.threads;

  const auto t0 = std::chrono::steady_clock::now();
  int last_percent = -1;
  const bool show_progress = isatty(fileno(stderr)) != 0;
  auto progress = [&](uint64_t done, uint64_t total) {
    if (!show_progress) return;
    const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    if (percent == last_percent) return;
    last_percent = percent;
    std::fprintf(stderr, "\rwriting %s: %3d%%", o.out.c_str(), percent);
    if (percent == 100) std::fputc('\n', stderr);
  };
  auto made = make_model(c, progress);
  if (!made) return fail(made.error());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const ModelPlan& p = made->plan;
  std::map<std::string, int> by_type;
  for (const PlannedTensor& t : p.tensors) ++by_type[std::string(dtype_name(t.type))];
  std::printf("wrote %s: %s, %s (general.file_type %u), seed %llu\n", o.out.c_str(),
              p.shape.preset.c_str(), p.file_type.name.c_str(), p.file_type.llama_ftype,
              static_cast<unsigned long long>(o.seed));
  std::printf("  %zu tensors:", p.tensors.size());
  for (const auto& [type, n] : by_type) std::printf(" %d %s", n, type.c_str());
  std::printf("\n  vocab: %d tokens (%s)\n", p.shape.n_vocab,
              o.vocab.empty() && o.tiktoken.empty() ? "made-up SPM vocab"
                                                    : (o.vocab.empty() ? o.tiktoken : o.vocab).c_str());
  std::printf("  %.2f GiB in %.1f s\n", static_cast<double>(made->file_bytes) / (1 << 30), seconds);
  for (const std::string& n : p.notes) std::printf("  note: %s\n", n.c_str());
  return 0;
}

}  // namespace tandem::cli
