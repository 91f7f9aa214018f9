// SentencePiece BPE as llama.cpp runs it (llm_tokenizer_spm): characters start as
// symbols; a max-heap of adjacent pairs whose concatenation is a token, by that token's
// score (ties: leftmost pair), merges until no pair is left.
#include <algorithm>
#include <queue>

#include "engine/tokenizer_internal.h"
#include "engine/utf8.h"

namespace tandem::detail {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
  int prev;      // index of the previous live symbol, -1 at the start
  int next;      // index of the next live symbol, -1 at the end
  size_t start;  // byte offset in the escaped text
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;  // bytes of the pair when queued: stale if the symbols changed since
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, const TokenIndex& index, std::string_view text)
      : vocab_(vocab), index_(index), text_(text) {}

  Status run(std::vector<int32_t>* out) {
    for (size_t off = 0; off < text_.size();) {
      const size_t len = std::min(utf8::lead_length(static_cast<uint8_t>(text_[off])),
                                  text_.size() - off);
      const int i = static_cast<int>(symbols_.size());
      symbols_.push_back({i - 1, off + len == text_.size() ? -1 : i + 1, off, len});
      off += len;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& left = symbols_[b.left];
      Symbol& right = symbols_[b.right];
      if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;  // stale
      left.n += right.n;
      right.n = 0;
      left.next = right.next;
      if (right.next >= 0) symbols_[right.next].prev = b.left;
      try_add_bigram(left.prev, b.left);
      try_add_bigram(b.left, left.next);
    }

    for (int i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[i].next) {
      const Symbol& s = symbols_[i];
      const std::string_view piece = text_.substr(s.start, s.n);
      const int32_t id = index_.find(piece);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      // Every merged symbol is a token, so only single characters get here.
      for (char c : piece) {
        int32_t bt = index_.byte_token[static_cast<uint8_t>(c)];
        if (bt < 0) bt = vocab_.unk;
        if (bt < 0) {
          return Error(Code::kUnsupported)
                 << "SPM vocab has no token for byte 0x" << std::hex
                 << static_cast<unsigned>(static_cast<uint8_t>(c)) << std::dec
                 << " and no unknown token";
        }
        out->push_back(bt);
      }
    }
    return Status::ok();
  }

 private:
  void try_add_bigram(int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = symbols_[left].n + symbols_[right].n;
    const int32_t id = index_.find(text_.substr(symbols_[left].start, size));
    if (id < 0) return;
    const float score = vocab_.scores.empty() ? 0.0f : vocab_.scores[id];
    queue_.push({left, right, score, size});
  }

  const Vocab& vocab_;
  const TokenIndex& index_;
  std::string_view text_;  // escaped: U+2581 for spaces
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue_;
};

}  // namespace

Status spm_encode(const Vocab& vocab, const TokenIndex& index, std::string_view text,
                  bool space_prefix, std::vector<int32_t>* out) {
  std::string escaped;
  escaped.reserve(text.size() + 16);
  if (space_prefix) escaped.append(kSpace);
  for (char c : text) {
    if (c == ' ') {
      escaped.append(kSpace);
    } else {
      escaped.push_back(c);
    }
  }
  SpmSession session(vocab, index, escaped);
  return session.run(out);
}

}  // namespace tandem::detail
