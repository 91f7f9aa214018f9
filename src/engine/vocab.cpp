#include "engine/vocab.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "engine/pretokenizer.h"
#include "storage/gguf.h"

namespace tandem {
namespace {

constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kPreKey = "tokenizer.ggml.pre";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTypesKey = "tokenizer.ggml.token_type";
constexpr const char* kMergesKey = "tokenizer.ggml.merges";

// Prefixes an error from the GGUF reader with the file, unless it already names it.
Error in_file(const gguf::File& f, const Error& e) {
  if (e.message().find(f.path()) != std::string::npos) return e;
  return Error(e.code()) << f.path() << ": " << e.message();
}

// A value that may be absent: nullopt for kNotFound, other errors are returned.
template <typename T>
Result<std::optional<T>> optional_key(const gguf::File& f, Result<T> r) {
  if (r.is_ok()) return std::optional<T>(std::move(r).value());
  if (r.error().code() == Code::kNotFound) return std::optional<T>();
  return in_file(f, r.error());
}

// Scores are f32 in every known file; llama.cpp also accepts i32.
Result<std::optional<std::vector<float>>> read_scores(const gguf::File& f) {
  const gguf::Value* v = f.find(kScoresKey);
  if (v == nullptr) return std::optional<std::vector<float>>();
  if (v->type == gguf::ValueType::kArray && v->elem == gguf::ValueType::kI32) {
    Result<std::vector<int32_t>> ints = f.get_i32_array(kScoresKey);
    if (!ints.is_ok()) return in_file(f, ints.error());
    std::vector<float> out(ints->begin(), ints->end());
    return std::optional<std::vector<float>>(std::move(out));
  }
  Result<std::vector<float>> floats = f.get_f32_array(kScoresKey);
  if (!floats.is_ok()) return in_file(f, floats.error());
  return std::optional<std::vector<float>>(std::move(floats).value());
}

// A special token id from `key`, if present and inside the vocab; absent, or out of
// range (0xFFFFFFFF is how some converters write "none"), keeps *id as it is, as
// llama.cpp does. A non-integer value is an error.
Status read_token_id(const gguf::File& f, const char* key, int32_t n_vocab, int32_t* id) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr) return Status::ok();
  if (!v->is_integer()) {
    return Error(Code::kBadGguf) << f.path() << ": " << key << " should be an integer, found "
                                 << gguf::value_type_name(v->type);
  }
  const bool is_signed = v->type == gguf::ValueType::kI8 || v->type == gguf::ValueType::kI16 ||
                         v->type == gguf::ValueType::kI32 || v->type == gguf::ValueType::kI64;
  if (is_signed) {
    if (v->i >= 0 && v->i < n_vocab) *id = static_cast<int32_t>(v->i);
  } else {
    if (v->u < static_cast<uint64_t>(n_vocab)) *id = static_cast<int32_t>(v->u);
  }
  return Status::ok();
}

Status read_bool(const gguf::File& f, const char* key, bool* out) {
  TANDEM_ASSIGN_OR_RETURN(std::optional<bool> b, optional_key(f, f.get_bool(key)));
  if (b) *out = *b;
  return Status::ok();
}

// Per-token array of n_vocab entries or more (extra entries are ignored, as llama.cpp does).
template <typename T>
Status check_array_size(const gguf::File& f, const char* key, std::vector<T>* a, size_t n) {
  if (a->size() < n) {
    return Error(Code::kBadGguf) << f.path() << ": " << key << " has " << a->size()
                                 << " entries for " << n << " tokens";
  }
  a->resize(n);
  return Status::ok();
}

// llama.cpp marks the special tokens of Phi-3 files (by general.name) to swallow the
// whitespace that follows them in the text.
void apply_phi3_strip(const gguf::File& f, Vocab* v) {
  Result<std::string> name = f.get_string("general.name");
  if (!name.is_ok()) return;
  std::string lower = *name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.find("phi-3") == std::string::npos && lower.find("phi3") == std::string::npos) return;
  v->strip.assign(v->tokens.size(), 0);
  for (size_t i = 0; i < v->tokens.size(); ++i) {
    const auto t = v->token_types.empty() ? TokenType::kNormal : TokenType(v->token_types[i]);
    const std::string& s = v->tokens[i];
    const bool special = t == TokenType::kControl || t == TokenType::kUserDefined ||
                         t == TokenType::kUnknown;
    if ((special || s == "</s>") && s != "<unk>" && s != "<s>" && s != "<|endoftext|>") {
      v->strip[i] = Vocab::kRstrip;
    }
  }
}

Status read_merges(const gguf::File& f, Vocab* v) {
  Result<std::vector<std::string>> merges = f.get_string_array(kMergesKey);
  if (!merges.is_ok()) {
    if (merges.error().code() == Code::kNotFound) {
      return Error(Code::kBadGguf) << f.path() << ": BPE vocabulary without " << kMergesKey;
    }
    return in_file(f, merges.error());
  }
  v->merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string& m = (*merges)[i];
    const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (space == std::string::npos || space + 1 >= m.size()) {
      return Error(Code::kBadGguf) << f.path() << ": " << kMergesKey << "[" << i << "] = '" << m
                                   << "' is not two tokens separated by a space";
    }
    v->merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  return Status::ok();
}

}  // namespace

Status validate_vocab(const Vocab& v) {
  const size_t n = v.tokens.size();
  if (n == 0) return Error(Code::kInvalidArgument) << "vocab has no tokens";
  if (n > static_cast<size_t>(INT32_MAX)) {
    return Error(Code::kInvalidArgument) << "vocab has " << n << " tokens, more than int32 ids";
  }
  auto check_size = [&](size_t got, const char* what) -> Status {
    if (got != 0 && got != n) {
      return Error(Code::kInvalidArgument)
             << "vocab " << what << " has " << got << " entries for " << n << " tokens";
    }
    return Status::ok();
  };
  TANDEM_TRY(check_size(v.scores.size(), "scores"));
  TANDEM_TRY(check_size(v.token_types.size(), "token types"));
  TANDEM_TRY(check_size(v.strip.size(), "strip flags"));
  const std::pair<const char*, int32_t> ids[] = {{"bos", v.bos}, {"eos", v.eos}, {"eot", v.eot},
                                                 {"eom", v.eom}, {"unk", v.unk}, {"pad", v.pad}};
  for (const auto& [name, id] : ids) {
    if (id < -1 || id >= static_cast<int32_t>(n)) {
      return Error(Code::kInvalidArgument) << "vocab " << name << " token id " << id
                                           << " is outside [0, " << n << ")";
    }
  }
  if (v.add_bos && v.bos < 0) {
    return Error(Code::kInvalidArgument) << "vocab says add_bos but has no BOS token id";
  }
  if (v.type == Vocab::Type::kBpe) {
    TANDEM_TRY(find_pre_tokenizer(v.pre));
    for (size_t i = 0; i < v.merges.size(); ++i) {
      if (v.merges[i].first.empty() || v.merges[i].second.empty()) {
        return Error(Code::kInvalidArgument) << "vocab merge #" << i << " has an empty part";
      }
    }
  }
  return Status::ok();
}

Result<Vocab> load_vocab(const gguf::File& f) {
  Vocab v;
  Result<std::string> model = f.get_string(kModelKey);
  if (!model.is_ok()) {
    if (model.error().code() == Code::kNotFound) {
      return Error(Code::kBadGguf) << f.path() << ": no vocabulary (" << kModelKey
                                   << " is missing)";
    }
    return in_file(f, model.error());
  }
  if (*model == "llama") {
    v.type = Vocab::Type::kSpm;
  } else if (*model == "gpt2") {
    v.type = Vocab::Type::kBpe;
  } else {
    return Error(Code::kUnsupported) << f.path() << ": tokenizer model '" << *model
                                     << "' is not supported (Tandem reads 'llama' and 'gpt2')";
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::string> pre, optional_key(f, f.get_string(kPreKey)));
  v.pre = pre && !pre->empty() ? *pre : "default";

  Result<std::vector<std::string>> tokens = f.get_string_array(kTokensKey);
  if (!tokens.is_ok()) {
    if (tokens.error().code() == Code::kNotFound) {
      return Error(Code::kBadGguf) << f.path() << ": " << kTokensKey << " is missing";
    }
    return in_file(f, tokens.error());
  }
  v.tokens = std::move(tokens).value();
  if (v.tokens.empty()) {
    return Error(Code::kBadGguf) << f.path() << ": " << kTokensKey << " is empty";
  }
  const size_t n = v.tokens.size();
  const auto n_vocab = static_cast<int32_t>(n);

  TANDEM_ASSIGN_OR_RETURN(std::optional<std::vector<float>> scores, read_scores(f));
  if (scores) {
    v.scores = std::move(*scores);
    TANDEM_TRY(check_array_size(f, kScoresKey, &v.scores, n));
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<std::vector<int32_t>> types,
                          optional_key(f, f.get_i32_array(kTypesKey)));
  if (types) {
    v.token_types = std::move(*types);
    TANDEM_TRY(check_array_size(f, kTypesKey, &v.token_types, n));
  }

  // llama.cpp's defaults, then the file's keys.
  if (v.type == Vocab::Type::kSpm) {
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
  } else {
    TANDEM_TRY(read_merges(f, &v));
    Result<PreTokenizerSpec> spec = find_pre_tokenizer(v.pre);
    if (!spec.is_ok()) return in_file(f, spec.error());
    v.bos = 11;  // llama.cpp's historical BPE default (Falcon); replaced by the key if present
    v.eos = 11;
    v.add_bos = spec->add_bos;
  }
  for (int32_t* id : {&v.bos, &v.eos, &v.unk}) {
    if (*id >= n_vocab) *id = -1;
  }
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.bos_token_id", n_vocab, &v.bos));
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.eos_token_id", n_vocab, &v.eos));
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.eot_token_id", n_vocab, &v.eot));
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.eom_token_id", n_vocab, &v.eom));
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.unknown_token_id", n_vocab, &v.unk));
  TANDEM_TRY(read_token_id(f, "tokenizer.ggml.padding_token_id", n_vocab, &v.pad));
  TANDEM_TRY(read_bool(f, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix));
  TANDEM_TRY(read_bool(f, "tokenizer.ggml.add_bos_token", &v.add_bos));
  TANDEM_TRY(read_bool(f, "tokenizer.ggml.add_eos_token", &v.add_eos));
  apply_phi3_strip(f, &v);

  Status ok = validate_vocab(v);
  if (!ok.is_ok()) return Error(Code::kBadGguf) << f.path() << ": " << ok.error().message();
  return v;
}

}  // namespace tandem
