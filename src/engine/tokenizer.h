// Text <-> token ids for a GGUF vocabulary, matching llama.cpp's llama_tokenize and
// llama_token_to_piece token for token: SentencePiece BPE ("llama") and byte-level BPE
// ("gpt2", with the pre-tokenizer of tokenizer.ggml.pre).
//
//   TANDEM_ASSIGN_OR_RETURN(Vocab v, load_vocab(gguf_file));
//   TANDEM_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::create(std::move(v)));
//   TANDEM_ASSIGN_OR_RETURN(auto ids, tok.encode(prompt, tok.add_bos_default(), false));
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/vocab.h"

namespace tandem {

class Tokenizer {
 public:
  // Indexes the vocab. Errors (kInvalidArgument) on inconsistent data: array sizes, ids
  // out of range, duplicate token texts, an unknown BPE pre-tokenizer.
  static Result<Tokenizer> create(Vocab vocab);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text` (which must be valid UTF-8: otherwise kInvalidArgument naming the
  // byte offset). BOS first iff add_bos; EOS is never added. Text that spells a control
  // token (<s>, <|eot_id|>) is tokenized as plain text unless parse_special; user-defined
  // tokens are always split out first, longest token first, as llama.cpp does.
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_bos,
                                      bool parse_special) const;

  // The raw bytes of a token (not necessarily valid UTF-8: byte tokens are single bytes).
  // SPM "▁" becomes ' ', <0xXX> the byte; BPE alphabet text becomes its bytes. Control and
  // unknown tokens give "" unless render_special; ids outside the vocab give "".
  std::string token_to_piece(int32_t id, bool render_special) const;

  // End of generation: eos, eot, eom and tokens such as <|eot_id|>, <|im_end|>, <|end|>.
  bool is_eog(int32_t id) const;

  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;  // -1 if none
  int32_t unk() const;
  int32_t n_vocab() const;
  bool add_bos_default() const;  // the vocab's tokenizer.ggml.add_bos_token (or default)
  // The id whose text is exactly `text` (as stored in the vocab), or -1.
  int32_t find_token(std::string_view text) const;
  const Vocab& vocab() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
