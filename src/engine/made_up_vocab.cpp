#include "engine/made_up_vocab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <queue>
#include <string>
#include <vector>

namespace tandem {
namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // "▁", SentencePiece's space

// A character of the piece alphabet: its text and log-probability under a rough model
// of English text (letters by their usual frequency, spaces about 18% of characters).
struct Symbol {
  std::string text;
  double logp;
};

double char_weight(char c) {
  // Relative frequencies of a..z in English, in percent.
  static constexpr double kLetter[26] = {8.2, 1.5,  2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0,
                                         0.15, 0.77, 4.0, 2.4, 6.7, 7.5, 1.9, 0.095, 6.0,
                                         6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.074};
  if (c >= 'a' && c <= 'z') return 0.75 * kLetter[c - 'a'];
  if (c >= 'A' && c <= 'Z') return 0.04 * kLetter[c - 'A'];
  if (c >= '0' && c <= '9') return 0.1;
  if (c == '.' || c == ',') return 1.0;
  if (c == '\'' || c == '"' || c == '-') return 0.3;
  return 0.05;
}

// "▁" then the printable ASCII characters other than space, most probable first.
std::vector<Symbol> alphabet() {
  std::vector<std::pair<std::string, double>> w;
  w.emplace_back(kSpace, 18.0);
  for (char c = '!'; c <= '~'; ++c) w.emplace_back(std::string(1, c), char_weight(c));
  double total = 0;
  for (const auto& [t, x] : w) total += x;
  std::vector<Symbol> out;
  for (const auto& [t, x] : w) out.push_back({t, std::log(x / total)});
  std::stable_sort(out.begin(), out.end(),
                   [](const Symbol& a, const Symbol& b) { return a.logp > b.logp; });
  return out;
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A piece that may be extended, and the next child to try.
struct Frontier {
  double score;        // log-probability of parent + children[k]
  std::string parent;  // piece text
  double parent_logp;
  const std::vector<Symbol>* children;
  size_t k;
};

struct WorseFirst {  // priority_queue puts the best (highest score, then smallest text) on top
  bool operator()(const Frontier& a, const Frontier& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.parent + (*a.children)[a.k].text > b.parent + (*b.children)[b.k].text;
  }
};

// Up to `n` pieces: the single characters, then best-first multi-character pieces.
std::vector<std::pair<std::string, double>> make_pieces(size_t n) {
  const std::vector<Symbol> all = alphabet();
  std::vector<Symbol> lower;  // extensions after a letter
  for (const Symbol& s : all)
    if (s.text.size() == 1 && s.text[0] >= 'a' && s.text[0] <= 'z') lower.push_back(s);

  std::vector<std::pair<std::string, double>> pieces;
  std::priority_queue<Frontier, std::vector<Frontier>, WorseFirst> queue;
  auto children_of = [&](const std::string& piece) -> const std::vector<Symbol>* {
    if (piece == kSpace) return &all;
    return is_letter(piece.back()) ? &lower : nullptr;
  };
  auto push_children = [&](const std::string& piece, double logp) {
    const std::vector<Symbol>* ch = children_of(piece);
    if (ch == nullptr) return;
    // "▁" may not follow itself: skip it among "▁"'s children.
    const size_t k0 = (ch == &all && (*ch)[0].text == kSpace) ? 1 : 0;
    queue.push({logp + (*ch)[k0].logp, piece, logp, ch, k0});
  };
  for (const Symbol& s : all) {
    if (pieces.size() >= n) return pieces;
    pieces.emplace_back(s.text, s.logp);
    push_children(s.text, s.logp);
  }
  while (pieces.size() < n && !queue.empty()) {
    Frontier f = queue.top();
    queue.pop();
    const Symbol& c = (*f.children)[f.k];
    std::string piece = f.parent + c.text;
    pieces.emplace_back(piece, f.score);
    push_children(piece, f.score);
    size_t next = f.k + 1;
    if (next < f.children->size() && (*f.children)[next].text == kSpace) ++next;
    if (next < f.children->size()) {
      queue.push({f.parent_logp + (*f.children)[next].logp, f.parent, f.parent_logp, f.children, next});
    }
  }
  return pieces;
}

}  // namespace

Result<Vocab> made_up_vocab(int32_t n_vocab) {
  if (n_vocab < kMinMadeUpVocab || n_vocab > (1 << 24)) {
    return Error(Code::kInvalidArgument) << "a made-up vocab needs between " << kMinMadeUpVocab
                                         << " and " << (1 << 24) << " tokens, got " << n_vocab;
  }
  Vocab v;
  v.type = Vocab::Type::kSpm;
  const auto n = static_cast<size_t>(n_vocab);
  v.tokens.reserve(n);
  v.scores.reserve(n);
  v.token_types.reserve(n);
  auto add = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.token_types.push_back(static_cast<int32_t>(type));
  };
  add("<unk>", 0.f, TokenType::kUnknown);
  add("<s>", 0.f, TokenType::kControl);
  add("</s>", 0.f, TokenType::kControl);
  for (int b = 0; b < 256; ++b) {
    char text[8];
    std::snprintf(text, sizeof(text), "<0x%02X>", b);
    add(text, 0.f, TokenType::kByte);
  }
  const auto pieces = make_pieces(n - v.tokens.size());
  for (size_t i = 0; i < pieces.size(); ++i)
    add(pieces[i].first, -static_cast<float>(i), TokenType::kNormal);
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = true;
  TANDEM_TRY(validate_vocab(v));
  return v;
}

}  // namespace tandem
