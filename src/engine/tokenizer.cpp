#include "engine/tokenizer.h"

#include <algorithm>
#include <optional>

#include "engine/byte_level.h"
#include "engine/tokenizer_internal.h"
#include "engine/utf8.h"

namespace tandem {
namespace {

using detail::TokenIndex;

// Texts llama.cpp takes for end-of-turn (when the file names none) and for end of
// generation; such tokens are also forced to be control tokens. llama.cpp takes the eot
// of a vocab with several of these in hash order; Tandem takes the first in this list.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>"};

uint16_t attr_of_type(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kNormal: return detail::kAttrNormal;
    case TokenType::kUnknown: return detail::kAttrUnknown;
    case TokenType::kControl: return detail::kAttrControl;
    case TokenType::kUserDefined: return detail::kAttrUserDefined;
    case TokenType::kUnused: return detail::kAttrUnused;
    case TokenType::kByte: return detail::kAttrByte;
    case TokenType::kUndefined: break;
  }
  return detail::kAttrUndefined;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// "<0xAB>" -> 0xAB, or -1.
int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

std::string spm_unescape(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(t[i++]);
    }
  }
  return out;
}

// A piece of the text between special tokens, or one special token.
struct Fragment {
  int32_t token;  // -1: raw text
  size_t offset;  // raw text: [offset, offset + length) of the input
  size_t length;
};

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  TokenIndex index;
  std::vector<int32_t> special;  // control, user-defined and unknown tokens, longest text first
  std::vector<int32_t> eog;      // sorted
  std::optional<detail::BpeEncoder> bpe;

  Status build();
  void find_end_tokens();
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
};

Status Tokenizer::Impl::build() {
  TANDEM_TRY(validate_vocab(vocab));
  const int32_t n = vocab.n_vocab();
  index.attrs.resize(n);
  index.token_to_id.reserve(n);
  for (int32_t id = 0; id < n; ++id) {
    std::string& text = vocab.tokens[id];
    if (text.empty()) text = "[EMPTY_" + std::to_string(id) + "]";  // as llama.cpp names them
    auto [it, inserted] = index.token_to_id.emplace(text, id);
    if (!inserted) {
      return Error(Code::kInvalidArgument) << "vocab has token '" << text << "' twice, at ids "
                                           << it->second << " and " << id;
    }
    uint16_t a = vocab.token_types.empty() ? uint16_t{detail::kAttrNormal}
                                           : attr_of_type(vocab.token_types[id]);
    if (!vocab.strip.empty()) {
      if (vocab.strip[id] & Vocab::kLstrip) a |= detail::kAttrLstrip;
      if (vocab.strip[id] & Vocab::kRstrip) a |= detail::kAttrRstrip;
    }
    index.attrs[id] = a;
  }
  for (int b = 0; b < 256; ++b) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char hex[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    int32_t id = index.find(std::string_view(hex, sizeof(hex)));
    if (id < 0) {
      const char c = static_cast<char>(b);
      id = index.find(std::string_view(&c, 1));
    }
    index.byte_token[b] = id;
  }
  find_end_tokens();

  for (int32_t id = 0; id < n; ++id) {
    const uint16_t a = index.attrs[id];
    const bool is_special =
        (a & (detail::kAttrControl | detail::kAttrUserDefined | detail::kAttrUnknown)) != 0;
    // A token whose text is not valid UTF-8 can never be typed; leaving it out keeps the
    // fragments between special tokens valid UTF-8.
    if (is_special && utf8::find_invalid(vocab.tokens[id]) == utf8::kNpos) special.push_back(id);
  }
  std::stable_sort(special.begin(), special.end(), [&](int32_t a, int32_t b) {
    return vocab.tokens[a].size() > vocab.tokens[b].size();
  });

  if (vocab.type == Vocab::Type::kBpe) {
    TANDEM_ASSIGN_OR_RETURN(detail::BpeEncoder enc, detail::BpeEncoder::create(vocab));
    bpe.emplace(std::move(enc));
  }
  return Status::ok();
}

// eot found by text when the file names none; the end-of-generation set (llama.cpp
// keys this on token text too). Such tokens become control tokens.
void Tokenizer::Impl::find_end_tokens() {
  auto make_control = [&](int32_t id) {
    index.attrs[id] |= detail::kAttrControl;
  };
  if (vocab.eot < 0) {
    for (std::string_view t : kEotTexts) {  // the first text of the list that is a token
      vocab.eot = index.find(t);
      if (vocab.eot >= 0) break;
    }
    if (vocab.eot >= 0) make_control(vocab.eot);
  }
  if (vocab.eom < 0) {
    vocab.eom = index.find("<|eom_id|>");
    if (vocab.eom >= 0) make_control(vocab.eom);
  }
  for (std::string_view t : kEogTexts) {
    const int32_t id = index.find(t);
    if (id < 0) continue;
    eog.push_back(id);
    make_control(id);
  }
  for (int32_t id : {vocab.eos, vocab.eot, vocab.eom}) {
    if (id >= 0) eog.push_back(id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
}

// llama.cpp's tokenizer_st_partition: for each special token, longest first, every
// occurrence in every raw-text fragment is cut out (control and unknown tokens only when
// parse_special). lstrip/rstrip tokens also swallow the whitespace beside them.
std::vector<Fragment> Tokenizer::Impl::partition(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (int32_t id : special) {
    const uint16_t a = index.attrs[id];
    if (!parse_special && (a & (detail::kAttrControl | detail::kAttrUnknown))) continue;
    const std::string& tok = vocab.tokens[id];
    next.clear();
    bool changed = false;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.offset;
      size_t len = f.length;
      while (true) {
        const size_t m = text.substr(0, off + len).find(tok, off);
        if (m == std::string_view::npos) {
          next.push_back({-1, off, len});
          break;
        }
        changed = true;
        size_t left_len = m - off;
        if (a & detail::kAttrLstrip) {
          while (left_len > 0 && is_ascii_space(text[off + left_len - 1])) --left_len;
        }
        if (left_len > 0) next.push_back({-1, off, left_len});
        next.push_back({id, 0, 0});
        size_t right_off = m + tok.size();
        size_t right_len = off + len - right_off;
        if (a & detail::kAttrRstrip) {
          while (right_len > 0 && is_ascii_space(text[right_off])) {
            ++right_off;
            --right_len;
          }
        }
        if (right_len == 0) break;
        off = right_off;
        len = right_len;
      }
    }
    if (changed) frags.swap(next);
  }
  return frags;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::create(Vocab vocab) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = std::move(vocab);
  TANDEM_TRY(impl->build());
  return Tokenizer(std::move(impl));
}

Result<std::vector<int32_t>> Tokenizer::encode(std::string_view text, bool add_bos,
                                               bool parse_special) const {
  TANDEM_TRY(utf8::validate(text, "text to tokenize"));
  const Vocab& v = impl_->vocab;
  std::vector<int32_t> out;
  if (add_bos) {
    if (v.bos < 0) {
      return Error(Code::kInvalidArgument) << "BOS requested but the vocab has no BOS token";
    }
    out.push_back(v.bos);
  }
  const std::vector<Fragment> frags = impl_->partition(text, parse_special);
  bool prev_special = true;  // SPM: the space prefix goes at the start and after special tokens
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view piece = text.substr(f.offset, f.length);
    if (v.type == Vocab::Type::kSpm) {
      const bool space_prefix = v.add_space_prefix && prev_special;
      TANDEM_TRY(detail::spm_encode(v, impl_->index, piece, space_prefix, &out));
    } else {
      TANDEM_TRY(impl_->bpe->encode(impl_->index, piece, &out));
    }
    prev_special = false;
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  const Vocab& v = impl_->vocab;
  if (id < 0 || id >= v.n_vocab()) return {};
  const uint16_t a = impl_->index.attrs[id];
  const std::string& text = v.tokens[id];
  if (a & (detail::kAttrControl | detail::kAttrUnknown)) {
    return render_special ? text : std::string();
  }
  if (a & detail::kAttrUserDefined) return text;
  if (a & detail::kAttrNormal) {
    return v.type == Vocab::Type::kSpm ? spm_unescape(text) : byte_level::decode(text);
  }
  if (a & detail::kAttrByte) {
    const int b = parse_byte_token(text);
    return b < 0 ? std::string() : std::string(1, static_cast<char>(b));
  }
  return {};  // unused or undefined tokens render as nothing
}

bool Tokenizer::is_eog(int32_t id) const {
  return id >= 0 && std::binary_search(impl_->eog.begin(), impl_->eog.end(), id);
}

int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
int32_t Tokenizer::eot() const { return impl_->vocab.eot; }
int32_t Tokenizer::unk() const { return impl_->vocab.unk; }
int32_t Tokenizer::n_vocab() const { return impl_->vocab.n_vocab(); }
bool Tokenizer::add_bos_default() const { return impl_->vocab.add_bos; }
int32_t Tokenizer::find_token(std::string_view text) const { return impl_->index.find(text); }
const Vocab& Tokenizer::vocab() const { return impl_->vocab; }

}  // namespace tandem
