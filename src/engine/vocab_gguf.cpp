#include "engine/vocab_gguf.h"

#include <string>
#include <utility>

namespace tandem {

std::vector<gguf::KeyValue> vocab_to_gguf(const Vocab& v) {
  using gguf::Value;
  std::vector<gguf::KeyValue> kv;
  const bool bpe = v.type == Vocab::Type::kBpe;
  kv.push_back({"tokenizer.ggml.model", Value::str(bpe ? "gpt2" : "llama")});
  if (bpe) kv.push_back({"tokenizer.ggml.pre", Value::str(v.pre)});
  kv.push_back({"tokenizer.ggml.tokens", Value::str_array(v.tokens)});
  if (!v.scores.empty()) kv.push_back({"tokenizer.ggml.scores", Value::f32_array(v.scores)});
  if (!v.token_types.empty())
    kv.push_back({"tokenizer.ggml.token_type", Value::i32_array(v.token_types)});
  if (bpe) {
    std::vector<std::string> merges;
    merges.reserve(v.merges.size());
    for (const auto& [left, right] : v.merges) merges.push_back(left + " " + right);
    kv.push_back({"tokenizer.ggml.merges", Value::str_array(std::move(merges))});
  }
  const std::pair<const char*, int32_t> ids[] = {
      {"tokenizer.ggml.bos_token_id", v.bos},     {"tokenizer.ggml.eos_token_id", v.eos},
      {"tokenizer.ggml.eot_token_id", v.eot},     {"tokenizer.ggml.eom_token_id", v.eom},
      {"tokenizer.ggml.unknown_token_id", v.unk}, {"tokenizer.ggml.padding_token_id", v.pad},
  };
  for (const auto& [key, id] : ids)
    if (id >= 0) kv.push_back({key, Value::u32(static_cast<uint32_t>(id))});
  kv.push_back({"tokenizer.ggml.add_bos_token", Value::boolean(v.add_bos)});
  kv.push_back({"tokenizer.ggml.add_eos_token", Value::boolean(v.add_eos)});
  kv.push_back({"tokenizer.ggml.add_space_prefix", Value::boolean(v.add_space_prefix)});
  return kv;
}

}  // namespace tandem
