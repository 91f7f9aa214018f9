// A tokenizer vocabulary as GGUF stores it (`tokenizer.*` metadata), plain data: the
// Tokenizer indexes it, tests build one in memory, tiktoken.h builds one from a
// tiktoken file. load_vocab() reads and checks it, with llama.cpp's defaults for keys
// that are absent.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tandem {

namespace gguf {
class File;
}

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, </s>, <|eot_id|>: only parsed from text with parse_special
  kUserDefined = 4,  // added tokens: always split out of text before the model's algorithm
  kUnused = 5,
  kByte = 6,         // SPM byte fallback <0xXX>
};

struct Vocab {
  enum class Type { kSpm, kBpe };  // tokenizer.ggml.model "llama" / "gpt2"

  // Bits of `strip`: whitespace next to a special token in the text is dropped.
  static constexpr uint8_t kLstrip = 1;  // whitespace before it
  static constexpr uint8_t kRstrip = 2;  // whitespace after it

  Type type = Type::kSpm;
  std::string pre = "default";        // tokenizer.ggml.pre (BPE only)
  std::vector<std::string> tokens;    // [n_vocab] token text; BPE: GPT-2 byte-level alphabet
  std::vector<float> scores;          // [n_vocab] SPM merge priorities, or empty (all 0)
  std::vector<int32_t> token_types;   // [n_vocab] TokenType values, or empty (all normal)
  std::vector<std::pair<std::string, std::string>> merges;  // BPE: first = highest priority
  std::vector<uint8_t> strip;         // [n_vocab] kLstrip|kRstrip bits, or empty (none)

  // Special token ids, -1 when the vocab has none.
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t eot = -1;  // end of turn (<|eot_id|>); -1: found by text when the Tokenizer is built
  int32_t eom = -1;  // end of message (<|eom_id|>)
  int32_t unk = -1;
  int32_t pad = -1;

  bool add_bos = false;           // prompts start with BOS by default
  bool add_eos = false;           // recorded only: Tandem never appends EOS to a prompt
  bool add_space_prefix = false;  // SPM: a "▁" is put before the text (after BOS)

  int32_t n_vocab() const { return static_cast<int32_t>(tokens.size()); }
};

// Checks sizes and ids: every array is empty or [n_vocab], special ids are -1 or in
// range, add_bos has a bos, merges have two non-empty parts, a BPE pre-tokenizer is
// known. kInvalidArgument (kUnsupported for the pre-tokenizer), naming the field.
Status validate_vocab(const Vocab& v);

// Reads tokenizer.ggml.* from a GGUF file. Defaults (when a key is absent) follow
// llama.cpp: SPM adds BOS and a space prefix, ids bos=1 eos=2 unk=0; BPE adds BOS only
// for pre-tokenizers that say so (llama-bpe); an out-of-range special id in the file
// (e.g. 0xFFFFFFFF for "none") keeps the default. Errors name the file and the key.
Result<Vocab> load_vocab(const gguf::File& f);

}  // namespace tandem
