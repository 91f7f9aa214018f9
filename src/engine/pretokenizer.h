// Byte-level BPE pre-tokenization: the regexes that split text into words before merges,
// one set per `tokenizer.ggml.pre` value, with llama.cpp's semantics: the regexes of a
// set run in order, each one splitting every word the previous one produced; matches
// and the text between matches both become words (nothing is dropped), and a match
// never crosses a word boundary (a lookahead at a word's end sees the end of input).
// PCRE2 in UTF + UCP mode (\s \p{L} \p{N} \p{P} are Unicode-aware), JIT when available.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem {

// What a `tokenizer.ggml.pre` name means besides its regexes (llama.cpp's defaults).
struct PreTokenizerSpec {
  std::string kind;            // the regex family: "gpt2", "llama3", "qwen2", "default", ...
  bool ignore_merges = false;  // a word that is a token by itself is emitted without merging
  bool add_bos = false;        // default of tokenizer.ggml.add_bos_token when the key is absent
};

// kUnsupported (naming the value) for a pre-tokenizer Tandem does not know. An empty
// name means "default", as in llama.cpp.
Result<PreTokenizerSpec> find_pre_tokenizer(std::string_view pre);

class PreTokenizer {
 public:
  static Result<PreTokenizer> create(std::string_view pre);
  // Compiles an explicit list of patterns (tests, experiments).
  static Result<PreTokenizer> from_patterns(const std::vector<std::string>& patterns);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // Splits `text` into words: views into `text`, in order, non-empty, covering it exactly.
  // Precondition: `text` is valid UTF-8 (the tokenizer checks before calling). Errors only
  // if PCRE2 gives up (match limits), naming the word's byte offset.
  Result<std::vector<std::string_view>> split(std::string_view text) const;

 private:
  struct Regex;  // a compiled pcre2_code
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace tandem
