#include "cli/raw_utf8_writer.h"

#include "engine/utf8.h"

namespace tandem::cli {
namespace {

// True when s[i..] is a proper, so far valid prefix of a multi-byte character.
bool incomplete_prefix(std::string_view s, size_t i) {
  const size_t need = utf8::lead_length(static_cast<uint8_t>(s[i]));
  if (need < 2 || s.size() - i >= need) return false;
  for (size_t j = i + 1; j < s.size(); ++j)
    if ((static_cast<uint8_t>(s[j]) & 0xC0) != 0x80) return false;
  return static_cast<uint8_t>(s[i]) >= 0xC2 && static_cast<uint8_t>(s[i]) <= 0xF4;
}

}  // namespace

void RawUtf8Writer::write(std::string_view bytes) {
  pending_.append(bytes);
  size_t i = 0;
  std::string out;
  while (i < pending_.size()) {
    const size_t n = utf8::valid_sequence_length(pending_, i);
    if (n > 0) {
      out.append(pending_, i, n);
      i += n;
    } else if (incomplete_prefix(pending_, i)) {
      break;  // wait for the rest of the character
    } else {
      out.push_back(pending_[i++]);  // invalid byte: pass it through
    }
  }
  pending_.erase(0, i);
  if (!out.empty()) {
    std::fwrite(out.data(), 1, out.size(), out_);
    std::fflush(out_);
  }
}

void RawUtf8Writer::finish() {
  if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), out_);
  pending_.clear();
  std::fflush(out_);
}

}  // namespace tandem::cli
