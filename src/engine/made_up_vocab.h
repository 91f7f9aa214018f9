// A made-up SentencePiece ("llama") vocabulary of any size, for random-weight models
// made without a real tokenizer. Layout (llama.cpp's SPM conventions):
//   0 <unk> (unknown), 1 <s> and 2 </s> (control), 3..258 the byte tokens <0x00>..<0xFF>
//   (byte, SPM byte fallback), then pieces (normal): "▁" and the 94 printable ASCII
//   characters other than space, then multi-character pieces -- a letter followed by
//   lowercase letters, with or without a leading "▁", and "▁" followed by any printable
//   character -- most probable first under an English letter-frequency model ("▁t",
//   "▁a", "ee", "▁th", ...).
// Every multi-character piece is an earlier piece plus one character, so SPM merging
// reaches it; pieces are unique. Scores: 0 for the special and byte tokens, -rank for
// pieces (earlier pieces merge first). bos 1, eos 2, unk 0, add_bos true, add_eos
// false, add_space_prefix true.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "engine/vocab.h"

namespace tandem {

// Fewest tokens a made-up vocab can have: the 3 special and 256 byte tokens.
inline constexpr int32_t kMinMadeUpVocab = 3 + 256;

// kInvalidArgument when n_vocab < kMinMadeUpVocab or above 2^24.
Result<Vocab> made_up_vocab(int32_t n_vocab);

}  // namespace tandem
