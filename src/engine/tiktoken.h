// Llama 3's tiktoken tokenizer.model (one "base64-token rank" pair per line, 128000 lines)
// as a GGUF-style byte-level BPE Vocab: tokens in the GPT-2 alphabet at their rank, merges
// rebuilt from the ranks, and Llama 3's 256 special tokens from id 128000.
//
// Merges: every split of a token into two tokens becomes a merge, ordered by the rank of
// the token they make (then by the ranks of the left and right parts) -- the list that
// Hugging Face's tiktoken converter writes and real Llama 3 GGUF files hold. Merging by
// that list is tiktoken's own rule: join the adjacent pair whose result ranks lowest.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "engine/vocab.h"

namespace tandem {

// Number of special tokens Llama 3 appends after the ranked tokens.
inline constexpr int kLlama3SpecialTokens = 256;

// Reads `path` (errors name it, and the line, for a bad line).
Result<Vocab> load_llama3_tiktoken(const std::string& path);

// The same from the file's contents; `name` stands for the path in errors.
// Special tokens (ids counted from n = number of ranked tokens, 128000 for Llama 3):
// n+0 <|begin_of_text|> (bos), n+1 <|end_of_text|> (eos), n+2..n+5
// <|reserved_special_token_0..3|>, n+6 <|start_header_id|>, n+7 <|end_header_id|>,
// n+8 <|reserved_special_token_4|>, n+9 <|eot_id|> (eot), then
// <|reserved_special_token_5|> .. <|reserved_special_token_250|>. Pre-tokenizer
// "llama-bpe"; BOS added by default.
Result<Vocab> parse_llama3_tiktoken(std::string_view contents, std::string_view name);

}  // namespace tandem
