// Byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe): the pre-tokenizer splits the
// text into words; each word's bytes are written in the GPT-2 alphabet; its characters
// start as symbols, and a min-heap of adjacent pairs keyed by merge rank (ties: leftmost
// pair) merges until no listed pair is left. Symbols that are not tokens fall back to
// the tokens of their single bytes, when those exist.
#include <algorithm>
#include <cstring>
#include <queue>

#include "engine/byte_level.h"
#include "engine/tokenizer_internal.h"
#include "engine/utf8.h"

namespace tandem::detail {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;  // byte offset in the encoded word
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t left_n;   // sizes when queued: the pair is stale if either changed
  size_t right_n;
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void merge_key(std::string_view left, std::string_view right, std::string* key) {
  const auto n = static_cast<uint32_t>(left.size());
  key->assign(reinterpret_cast<const char*>(&n), sizeof(n));
  key->append(left);
  key->append(right);
}

}  // namespace

Result<BpeEncoder> BpeEncoder::create(const Vocab& vocab) {
  TANDEM_ASSIGN_OR_RETURN(PreTokenizerSpec spec, find_pre_tokenizer(vocab.pre));
  TANDEM_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::create(vocab.pre));
  BpeEncoder enc(std::move(pre), spec.ignore_merges);
  enc.ranks_.reserve(vocab.merges.size());
  std::string key;
  for (size_t i = 0; i < vocab.merges.size(); ++i) {
    merge_key(vocab.merges[i].first, vocab.merges[i].second, &key);
    enc.ranks_.emplace(key, static_cast<int32_t>(i));  // a repeated pair keeps its first rank
  }
  return enc;
}

int32_t BpeEncoder::rank(std::string_view left, std::string_view right, std::string* key) const {
  merge_key(left, right, key);
  auto it = ranks_.find(std::string_view(*key));
  return it == ranks_.end() ? -1 : it->second;
}

void BpeEncoder::encode_word(const TokenIndex& index, std::string_view word,
                             std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    const int32_t id = index.find(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (size_t off = 0; off < word.size();) {
    const size_t len =
        std::min(utf8::lead_length(static_cast<uint8_t>(word[off])), word.size() - off);
    const int i = static_cast<int>(symbols.size());
    symbols.push_back({i - 1, off + len == word.size() ? -1 : i + 1, off, len});
    off += len;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  std::string key;  // scratch for rank lookups
  auto add_bigram = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const int32_t rk = rank(word.substr(l.start, l.n), word.substr(r.start, r.n), &key);
    if (rk >= 0) queue.push({left, right, rk, l.n, r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0 || left.n != b.left_n || right.n != b.right_n) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    add_bigram(left.prev, b.left);
    add_bigram(b.left, left.next);
  }

  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = word.substr(symbols[i].start, symbols[i].n);
    const int32_t id = index.find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    // Not a token: llama.cpp tries each byte of the encoded piece as a one-byte token.
    for (char c : piece) {
      const int32_t bt = index.find(std::string_view(&c, 1));
      if (bt >= 0) out->push_back(bt);
    }
  }
}

Status BpeEncoder::encode(const TokenIndex& index, std::string_view text,
                          std::vector<int32_t>* out) const {
  TANDEM_ASSIGN_OR_RETURN(std::vector<std::string_view> words, pre_.split(text));
  std::string encoded;
  for (std::string_view w : words) {
    encoded = byte_level::encode(w);
    encode_word(index, encoded, out);
  }
  return Status::ok();
}

}  // namespace tandem::detail
