// tandem inspect: a GGUF file's metadata, tensors and types, and whether Tandem runs it.
#include <cstdio>
#include <map>
#include <string>

#include "cli/common.h"
#include "cli/gpu_setup.h"
#include "engine/model.h"
#include "engine/runtime.h"
#include "storage/gguf.h"

namespace tandem::cli {
namespace {

std::string shape_of(const gguf::TensorInfo& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.dims.size(); ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
  return s + "]";
}

}  // namespace

int cmd_inspect(const InspectOptions& o) {
  if (o.plan) {
    auto s = setup_gpu(GpuRequest{o.model, o.gpu, o.ctx, o.kv_type}, /*force_plan=*/true, stdout);
    return s ? 0 : fail(s.error());
  }
  auto f = gguf::File::open(o.model);
  if (!f) return fail(f.error());
  std::printf("file: %s\nGGUF version %u, %llu bytes, alignment %llu, data at offset %llu\n",
              f->path().c_str(), f->version(), static_cast<unsigned long long>(f->file_size()),
              static_cast<unsigned long long>(f->alignment()),
              static_cast<unsigned long long>(f->data_offset()));
  std::printf("\nmetadata (%zu keys):\n", f->metadata().size());
  for (const gguf::KeyValue& kv : f->metadata())
    std::printf("  %-40s %s\n", kv.key.c_str(), kv.value.to_string(o.all_metadata ? SIZE_MAX : 8).c_str());

  std::printf("\ntensors (%zu):\n", f->tensors().size());
  std::map<std::string, std::pair<int, uint64_t>> by_type;
  uint64_t total = 0;
  for (const gguf::TensorInfo& t : f->tensors()) {
    std::printf("  %-32s %-6s %-20s %12llu bytes\n", t.name.c_str(), std::string(dtype_name(t.type)).c_str(),
                shape_of(t).c_str(), static_cast<unsigned long long>(t.nbytes));
    auto& e = by_type[std::string(dtype_name(t.type))];
    ++e.first;
    e.second += t.nbytes;
    total += t.nbytes;
  }
  std::printf("\ntypes:\n");
  for (const auto& [name, e] : by_type)
    std::printf("  %-6s %4d tensors %10.2f MiB\n", name.c_str(), e.first, e.second / 1048576.0);
  std::printf("  total  %4zu tensors %10.2f MiB\n", f->tensors().size(), total / 1048576.0);

  auto cfg = read_model_config(*f);
  if (!cfg) {
    std::printf("\nsupport: no: %s\n", cfg.error().message().c_str());
    return 0;
  }
  auto m = Model::load(o.model, ModelLoadOptions{.pack_for_cpu = false});
  auto tok = load_tokenizer(*f);
  if (!m) {
    std::printf("\nsupport: no: %s\n", m.error().message().c_str());
  } else if (!tok) {
    std::printf("\nsupport: no tokenizer: %s\n", tok.error().message().c_str());
  } else {
    const ModelConfig& c = (*m)->config();
    std::printf("\nsupport: yes: %s, %d layers, n_embd %d, n_ff %d, %d heads (%d KV, head dim %d), "
                "vocab %d, context %d, rope base %g%s, %s output\n",
                arch_name(c.arch), c.n_layer, c.n_embd, c.n_ff, c.n_head, c.n_head_kv, c.head_dim,
                c.n_vocab, c.n_ctx_train, c.rope_freq_base,
                (*m)->rope_freqs().present() ? " with rope_freqs" : "",
                (*m)->tied_output() ? "tied" : "separate");
  }
  return 0;
}

}  // namespace tandem::cli
