// A Vocab as GGUF metadata (tokenizer.ggml.*), in llama.cpp's conventions, so that
// load_vocab() and llama.cpp both read back the same tokenizer.
#pragma once

#include <vector>

#include "engine/vocab.h"
#include "storage/gguf.h"

namespace tandem {

// Keys written: model ("llama" / "gpt2"), pre (BPE only), tokens, scores and token_type
// (when the vocab has them), merges (BPE; "left right"), bos/eos/eot/eom/unknown/padding
// token ids (u32, only those that are set), add_bos_token, add_eos_token and
// add_space_prefix (bool). Vocab::strip is not a GGUF field (load_vocab derives it).
// The vocab must pass validate_vocab().
std::vector<gguf::KeyValue> vocab_to_gguf(const Vocab& v);

}  // namespace tandem
