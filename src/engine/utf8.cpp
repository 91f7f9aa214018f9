#include "engine/utf8.h"

#include <cstdio>

namespace tandem::utf8 {
namespace {

enum class SeqKind { kComplete, kTruncated, kInvalid };

// What starts at s[i]. len: the sequence's length (kComplete), its valid prefix that
// the end of `s` cut off (kTruncated), or the maximal ill-formed subpart, >= 1 (kInvalid).
struct Seq {
  SeqKind kind;
  size_t len;
};

Seq scan(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return {SeqKind::kComplete, 1};
  size_t need = 0;
  uint8_t lo = 0x80;  // allowed range of the second byte (narrower after E0 ED F0 F4)
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return {SeqKind::kInvalid, 1};  // continuation byte, C0, C1 or F5..FF as a lead
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return {SeqKind::kTruncated, k};
    const auto b = static_cast<uint8_t>(s[i + k]);
    const uint8_t l = k == 1 ? lo : 0x80;
    const uint8_t h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return {SeqKind::kInvalid, k};
  }
  return {SeqKind::kComplete, need};
}

void append_replacement(std::string* out) { append(out, kReplacement); }

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  const Seq q = scan(s, i);
  return q.kind == SeqKind::kComplete ? q.len : 0;
}

size_t find_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {  // ASCII fast path
      ++i;
      continue;
    }
    const Seq q = scan(s, i);
    if (q.kind != SeqKind::kComplete) return i;
    i += q.len;
  }
  return kNpos;
}

Status validate(std::string_view s, std::string_view what) {
  const size_t bad = find_invalid(s);
  if (bad == kNpos) return Status::ok();
  Error e(Code::kInvalidArgument);
  e << what << ": invalid UTF-8 at byte offset " << bad << " (bytes";
  for (size_t k = bad; k < s.size() && k < bad + 4; ++k) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), " 0x%02x", static_cast<unsigned>(static_cast<uint8_t>(s[k])));
    e << hex;
  }
  if (scan(s, bad).kind == SeqKind::kTruncated) e << ", cut off by the end of the text";
  e << ")";
  return e;
}

size_t lead_length(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

uint32_t decode(std::string_view s, size_t* i) {
  const auto b0 = static_cast<uint8_t>(s[*i]);
  const size_t n = lead_length(b0);
  uint32_t cp = n == 1 ? b0 : n == 2 ? (b0 & 0x1Fu) : n == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
  for (size_t k = 1; k < n && *i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[*i + k]) & 0x3Fu);
  }
  *i += n;
  return cp;
}

void append(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tandem::utf8

namespace tandem {

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const utf8::Seq q = utf8::scan(pending_, i);
    if (q.kind == utf8::SeqKind::kTruncated) break;  // wait for the rest
    if (q.kind == utf8::SeqKind::kComplete) {
      out.append(pending_, i, q.len);
    } else {
      utf8::append_replacement(&out);
    }
    i += q.len;
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out;
  if (!pending_.empty()) utf8::append_replacement(&out);  // one maximal subpart
  pending_.clear();
  return out;
}

}  // namespace tandem
