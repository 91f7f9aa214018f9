// Internals shared by tokenizer.cpp, tokenizer_spm.cpp and tokenizer_bpe.cpp (not part of
// the engine's API): the token lookup index and the two merge algorithms.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/pretokenizer.h"
#include "engine/vocab.h"

namespace tandem::detail {

// Token attributes (llama.cpp's llama_token_attr bits that tokenization uses).
enum TokenAttr : uint16_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
  kAttrLstrip = 1 << 6,
  kAttrRstrip = 1 << 7,
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Text -> id, attributes and byte tokens of one vocabulary.
struct TokenIndex {
  StringMap token_to_id;
  std::vector<uint16_t> attrs;          // [n_vocab] TokenAttr bits
  std::array<int32_t, 256> byte_token;  // SPM: <0xXX> (or the 1-byte token); -1 if none

  int32_t find(std::string_view text) const {
    auto it = token_to_id.find(text);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

// SentencePiece-style BPE over `text` (one raw-text fragment): spaces become U+2581,
// `space_prefix` puts one U+2581 in front; adjacent pieces merge while their
// concatenation is a token, highest score first (ties: leftmost); pieces that are not
// tokens fall back to byte tokens (or unk). Appends ids to *out.
Status spm_encode(const Vocab& vocab, const TokenIndex& index, std::string_view text,
                  bool space_prefix, std::vector<int32_t>* out);

// Byte-level BPE: pre-tokenizer words, mapped to the GPT-2 alphabet, merged by rank.
class BpeEncoder {
 public:
  static Result<BpeEncoder> create(const Vocab& vocab);
  // `text` is one raw-text fragment, valid UTF-8. Appends ids to *out.
  Status encode(const TokenIndex& index, std::string_view text, std::vector<int32_t>* out) const;

 private:
  BpeEncoder(PreTokenizer pre, bool ignore_merges) : pre_(std::move(pre)), ignore_merges_(ignore_merges) {}
  // Merge rank of (left, right), lower merges first; -1 when they do not merge.
  // `key` is scratch space for the lookup.
  int32_t rank(std::string_view left, std::string_view right, std::string* key) const;
  void encode_word(const TokenIndex& index, std::string_view word, std::vector<int32_t>* out) const;

  PreTokenizer pre_;
  bool ignore_merges_ = false;
  StringMap ranks_;  // key: 4-byte length of left, left, right
};

}  // namespace tandem::detail
