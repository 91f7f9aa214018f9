// GPT-2's byte-level alphabet: every byte 0..255 stands for one printable codepoint, so
// byte-level BPE vocabularies store raw bytes as UTF-8 text. Bytes 0x21..0x7E, 0xA1..0xAC
// and 0xAE..0xFF map to themselves; the other 68 bytes (controls, space, 0x7F..0xA0,
// 0xAD), in byte order, map to U+0100, U+0101, ... (so ' ' is U+0120 'Ġ', '\n' U+010A 'Ċ').
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::byte_level {

// The codepoint standing for byte `b`.
uint32_t byte_to_codepoint(uint8_t b);
// The byte a codepoint stands for, or -1 when it is not in the alphabet.
int codepoint_to_byte(uint32_t cp);

// Raw bytes -> alphabet text (each byte becomes one codepoint, 1 or 2 UTF-8 bytes).
std::string encode(std::string_view bytes);
// Alphabet text -> raw bytes. Codepoints outside the alphabet are copied through as their
// own UTF-8 (valid vocabularies have none). Precondition: `text` is valid UTF-8.
std::string decode(std::string_view text);

}  // namespace tandem::byte_level
