// Everything a generation needs, loaded together: model, tokenizer, context.
// The command line and the C API both start from here.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/context.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

namespace tandem {

struct Runtime {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Context> context;
};

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const gguf::File& f);
Result<Runtime> open_runtime(const std::string& model_path, const ContextConfig& cfg);

}  // namespace tandem
