#include <cstdio>
#include <string>

#include "cli/common.h"
#include "engine/runtime.h"
#include "storage/gguf.h"

namespace tandem::cli {

int cmd_tokenize(const TokenizeOptions& o) {
  auto f = gguf::File::open(o.m.model);
  if (!f) return fail(f.error());
  auto tok = load_tokenizer(*f);
  if (!tok) return fail(tok.error());
  auto ids = (*tok)->encode(o.prompt, !o.no_bos && (*tok)->add_bos_default(), o.special);
  if (!ids) return fail(ids.error());
  std::string line;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i) line += ' ';
    line += std::to_string((*ids)[i]);
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace tandem::cli
