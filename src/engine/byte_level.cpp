#include "engine/byte_level.h"

#include <array>

#include "engine/utf8.h"

namespace tandem::byte_level {
namespace {

// Byte -> codepoint table, built once at compile time (no mutable global state).
constexpr std::array<uint16_t, 256> make_table() {
  std::array<uint16_t, 256> t{};
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool self =
        (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    t[b] = static_cast<uint16_t>(self ? b : next++);
  }
  return t;
}
constexpr std::array<uint16_t, 256> kByteToCp = make_table();

// Codepoint (0 .. 256+68) -> byte, -1 where the codepoint stands for no byte.
constexpr std::array<int16_t, 256 + 68> make_inverse() {
  std::array<int16_t, 256 + 68> t{};
  for (auto& v : t) v = -1;
  for (int b = 0; b < 256; ++b) t[kByteToCp[b]] = static_cast<int16_t>(b);
  return t;
}
constexpr std::array<int16_t, 256 + 68> kCpToByte = make_inverse();

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return kByteToCp[b]; }

int codepoint_to_byte(uint32_t cp) { return cp < kCpToByte.size() ? kCpToByte[cp] : -1; }

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) utf8::append(&out, kByteToCp[static_cast<uint8_t>(c)]);
  return out;
}

std::string decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const uint32_t cp = utf8::decode(text, &i);
    const int b = codepoint_to_byte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(start, i - start));
    }
  }
  return out;
}

}  // namespace tandem::byte_level
