// The tokenizer's algorithms on small vocabularies built in memory: SPM merge order and
// byte fallback, BPE merge ranks, special-token splitting, pieces, end of generation,
// bad input and bad vocabularies.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/byte_level.h"
#include "engine/pretokenizer.h"
#include "engine/tokenizer.h"
#include "engine/vocab.h"

namespace tandem {
namespace {

using Ids = std::vector<int32_t>;
constexpr int32_t kNormal = static_cast<int32_t>(TokenType::kNormal);
constexpr int32_t kControl = static_cast<int32_t>(TokenType::kControl);
constexpr int32_t kUserDefined = static_cast<int32_t>(TokenType::kUserDefined);
constexpr int32_t kByte = static_cast<int32_t>(TokenType::kByte);
constexpr int32_t kUnknown = static_cast<int32_t>(TokenType::kUnknown);

void add(Vocab* v, const std::string& text, float score, int32_t type) {
  v->tokens.push_back(text);
  v->scores.push_back(score);
  v->token_types.push_back(type);
}

// ids 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then `pieces` with their scores.
Vocab spm_vocab(const std::vector<std::pair<std::string, float>>& pieces, bool byte_tokens = true) {
  Vocab v;
  v.type = Vocab::Type::kSpm;
  add(&v, "<unk>", 0, kUnknown);
  add(&v, "<s>", 0, kControl);
  add(&v, "</s>", 0, kControl);
  if (byte_tokens) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      add(&v, name, 0, kByte);
    }
  }
  for (const auto& [text, score] : pieces) add(&v, text, score, kNormal);
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

Tokenizer make(Vocab v) {
  Result<Tokenizer> t = Tokenizer::create(std::move(v));
  EXPECT_TRUE(t.is_ok()) << t.error().message();
  return std::move(t).value();
}

Ids enc(const Tokenizer& t, std::string_view text, bool bos = false, bool special = false) {
  Result<Ids> r = t.encode(text, bos, special);
  EXPECT_TRUE(r.is_ok()) << r.error().message();
  return r.is_ok() ? *r : Ids{};
}

const std::string kSp = "\xE2\x96\x81";  // U+2581

// ---- SPM ----------------------------------------------------------------------------

TEST(TokenizerSpm, HighestScoreMergesFirst) {
  // ▁ a b c; the pair with the best score wins, which decides the final split.
  const int32_t base = 259;  // first piece id
  {
    Tokenizer t = make(spm_vocab({{kSp, -1}, {"a", -1}, {"b", -1}, {"c", -1},
                                  {kSp + "a", -5}, {"ab", -2}, {"bc", -3}, {kSp + "ab", -4}}));
    // ab (-2) first, then ▁+ab (-4): [▁ab, c]
    EXPECT_EQ(enc(t, "abc"), (Ids{base + 7, base + 3}));
  }
  {
    Tokenizer t = make(spm_vocab({{kSp, -1}, {"a", -1}, {"b", -1}, {"c", -1},
                                  {kSp + "a", -1.5f}, {"ab", -2}, {"bc", -3}, {kSp + "ab", -4}}));
    // ▁a (-1.5) first, then b+c (-3): [▁a, bc]
    EXPECT_EQ(enc(t, "abc"), (Ids{base + 4, base + 6}));
  }
}

TEST(TokenizerSpm, EqualScoresMergeLeftmostFirst) {
  // "aaa" with "aa" only: the left pair merges first -> [aa, a], not [a, aa].
  Vocab v = spm_vocab({{"a", -1}, {"aa", -2}});
  v.add_space_prefix = false;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(enc(t, "aaa"), (Ids{260, 259}));
}

TEST(TokenizerSpm, SpacesBecomeU2581AndBosIsOptional) {
  Tokenizer t = make(spm_vocab({{kSp, -1}, {"a", -1}, {kSp + "a", -2}, {kSp + kSp, -3}}));
  EXPECT_EQ(enc(t, "a a"), (Ids{261, 261}));          // ▁a ▁a
  EXPECT_EQ(enc(t, "a a", /*bos=*/true), (Ids{1, 261, 261}));
  EXPECT_EQ(enc(t, " "), (Ids{262}));                 // prefix + space = ▁▁
  EXPECT_EQ(enc(t, ""), (Ids{}));
  EXPECT_EQ(enc(t, "", true), (Ids{1}));
}

TEST(TokenizerSpm, UnknownCharactersFallBackToBytes) {
  Tokenizer t = make(spm_vocab({{kSp, -1}, {"a", -1}}));
  // "é" = C3 A9 -> <0xC3> <0xA9> (ids 3 + byte); "\n" -> <0x0A>.
  EXPECT_EQ(enc(t, "a\xC3\xA9\n"), (Ids{259, 260, 3 + 0xC3, 3 + 0xA9, 3 + 0x0A}));
  // Without byte tokens the bytes become <unk>.
  Tokenizer no_bytes = make(spm_vocab({{kSp, -1}, {"a", -1}}, /*byte_tokens=*/false));
  EXPECT_EQ(enc(no_bytes, "a\xC3\xA9"), (Ids{3, 4, 0, 0}));
}

TEST(TokenizerSpm, NoSpacePrefixWhenTheVocabSaysSo) {
  Vocab v = spm_vocab({{kSp, -1}, {"a", -1}, {kSp + "a", -2}});
  v.add_space_prefix = false;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(enc(t, "a a"), (Ids{260, 261}));  // a ▁a
}

TEST(TokenizerSpm, ControlTokensParsedOnlyWithParseSpecial) {
  Tokenizer t = make(spm_vocab({{kSp, -1}, {"a", -1}, {kSp + "a", -2}, {"<", -1}, {"s", -1},
                                {">", -1}, {"/", -1}}));
  // Plain text: "<s>" is three characters.
  EXPECT_EQ(enc(t, "a<s>a"), (Ids{261, 262, 263, 264, 260}));
  // parse_special: the control token is cut out and a space prefix follows it again.
  EXPECT_EQ(enc(t, "a<s>a", false, true), (Ids{261, 1, 261}));
  EXPECT_EQ(enc(t, "</s>", false, true), (Ids{2}));
}

// ---- Byte-level BPE ------------------------------------------------------------------

// The 256 byte tokens (ids 0..255 in byte order), then `extra` tokens, with `merges`.
Vocab bpe_vocab(const std::vector<std::string>& extra,
                const std::vector<std::pair<std::string, std::string>>& merges,
                const std::string& pre = "gpt-2") {
  Vocab v;
  v.type = Vocab::Type::kBpe;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_level::encode(std::string(1, static_cast<char>(b))));
  }
  for (const std::string& e : extra) v.tokens.push_back(e);
  v.merges = merges;
  return v;
}

TEST(TokenizerBpe, LowerRankMergesFirst) {
  // "aba": with (b,a) ranked first -> [a, ba]; with (a,b) first -> [ab, a].
  Tokenizer ba_first = make(bpe_vocab({"ab", "ba"}, {{"b", "a"}, {"a", "b"}}));
  EXPECT_EQ(enc(ba_first, "aba"), (Ids{'a', 257}));
  Tokenizer ab_first = make(bpe_vocab({"ab", "ba"}, {{"a", "b"}, {"b", "a"}}));
  EXPECT_EQ(enc(ab_first, "aba"), (Ids{256, 'a'}));
}

TEST(TokenizerBpe, MergesChainAndSpacesUseTheByteAlphabet) {
  // " hello" -> Ġhello through Ġ h, e l, l o, Ġh el, lo ... (a space is 'Ġ' = U+0120).
  Tokenizer t = make(bpe_vocab({"\xC4\xA0h", "el", "lo", "\xC4\xA0hel", "\xC4\xA0hello"},
                               {{"\xC4\xA0", "h"}, {"e", "l"}, {"l", "o"}, {"\xC4\xA0h", "el"},
                                {"\xC4\xA0hel", "lo"}}));
  EXPECT_EQ(enc(t, "hello hello"), (Ids{'h', 257, 258, 260}));
  EXPECT_EQ(t.token_to_piece(260, false), " hello");
  EXPECT_EQ(t.token_to_piece('\n' /* byte token of 0x0A, "Ċ" */, false), "\n");
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWordTokens) {
  // "xyz" is a token that no merge reaches. llama-bpe emits it whole; gpt-2 does not.
  Tokenizer llama3 = make(bpe_vocab({"xyz"}, {}, "llama-bpe"));
  EXPECT_EQ(enc(llama3, "xyz"), (Ids{256}));
  Tokenizer gpt2 = make(bpe_vocab({"xyz"}, {}, "gpt-2"));
  EXPECT_EQ(enc(gpt2, "xyz"), (Ids{'x', 'y', 'z'}));
}

TEST(TokenizerBpe, MultiByteCharactersWithoutMergesStayBytes) {
  Tokenizer t = make(bpe_vocab({}, {}));
  // "é" = C3 A9: each byte is its own token.
  EXPECT_EQ(enc(t, "\xC3\xA9"), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t.token_to_piece(0xC3, false) + t.token_to_piece(0xA9, false), "\xC3\xA9");
}

// ---- Special tokens ------------------------------------------------------------------

TEST(TokenizerSpecial, UserDefinedAlwaysSplitControlOnlyOnRequest) {
  Vocab v = bpe_vocab({"<ctl>", "<user>"}, {});
  v.token_types.assign(v.tokens.size(), kNormal);
  v.token_types[256] = kControl;
  v.token_types[257] = kUserDefined;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(enc(t, "a<user>b"), (Ids{'a', 257, 'b'}));
  EXPECT_EQ(enc(t, "a<user>b", false, true), (Ids{'a', 257, 'b'}));
  const Ids plain = enc(t, "<ctl>");
  EXPECT_EQ(plain.size(), 5u);  // five characters as plain text
  for (int32_t id : plain) EXPECT_LT(id, 256);
  EXPECT_EQ(enc(t, "<ctl><ctl>", false, true), (Ids{256, 256}));
  EXPECT_EQ(t.token_to_piece(256, false), "");
  EXPECT_EQ(t.token_to_piece(256, true), "<ctl>");
  EXPECT_EQ(t.token_to_piece(257, false), "<user>");  // user-defined tokens always render
}

TEST(TokenizerSpecial, LongestTokenIsSplitFirst) {
  Vocab v = bpe_vocab({"<a>", "<a><b>", "<b>"}, {});
  v.token_types.assign(v.tokens.size(), kNormal);
  for (int id : {256, 257, 258}) v.token_types[id] = kControl;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(enc(t, "<a><b><b><a>", false, true), (Ids{257, 258, 256}));
}

TEST(TokenizerSpecial, RstripSwallowsFollowingWhitespace) {
  Vocab v = bpe_vocab({"<eot>"}, {});
  v.token_types.assign(v.tokens.size(), kNormal);
  v.token_types[256] = kControl;
  v.strip.assign(v.tokens.size(), 0);
  v.strip[256] = Vocab::kRstrip;
  Tokenizer t = make(std::move(v));
  EXPECT_EQ(enc(t, "x<eot> \n y", false, true), (Ids{'x', 256, 'y'}));
}

// ---- Pieces, end of generation, errors -------------------------------------------------

TEST(TokenizerPieces, SpmPiecesAreRawBytes) {
  Tokenizer t = make(spm_vocab({{kSp + "a", -1}}));
  EXPECT_EQ(t.token_to_piece(259, false), " a");
  EXPECT_EQ(t.token_to_piece(3 + 0x0A, false), "\n");
  EXPECT_EQ(t.token_to_piece(3 + 0xE2, false), "\xE2");  // one byte, not valid UTF-8 alone
  EXPECT_EQ(t.token_to_piece(1, false), "");
  EXPECT_EQ(t.token_to_piece(1, true), "<s>");
  EXPECT_EQ(t.token_to_piece(0, false), "");  // <unk> is "unknown": rendered only on request
  EXPECT_EQ(t.token_to_piece(0, true), "<unk>");
  EXPECT_EQ(t.token_to_piece(-1, true), "");
  EXPECT_EQ(t.token_to_piece(100000, true), "");
}

TEST(TokenizerEog, EosEotAndKnownEndTokens) {
  Vocab v = bpe_vocab({"<|endoftext|>", "<|eot_id|>", "<|im_end|>", "<|start|>"}, {});
  v.eos = 256;
  Tokenizer t = make(std::move(v));
  EXPECT_TRUE(t.is_eog(256));
  EXPECT_TRUE(t.is_eog(257));
  EXPECT_TRUE(t.is_eog(258));
  EXPECT_FALSE(t.is_eog(259));
  EXPECT_FALSE(t.is_eog(-1));
  EXPECT_EQ(t.eot(), 257);  // found by its text
  // End tokens become control tokens: rendered as nothing by default.
  EXPECT_EQ(t.token_to_piece(257, false), "");
}

TEST(TokenizerErrors, InvalidUtf8IsRejectedWithItsOffset) {
  Tokenizer t = make(bpe_vocab({}, {}));
  Result<Ids> r = t.encode("abc\xC3(", false, false);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("byte offset 3"), std::string::npos) << r.error().message();
  Tokenizer s = make(spm_vocab({}));
  EXPECT_FALSE(s.encode("\xFF", false, false).is_ok());
}

TEST(TokenizerErrors, BadVocabulariesAreRefused) {
  {
    Vocab v = spm_vocab({{"a", -1}, {"a", -2}});
    Result<Tokenizer> t = Tokenizer::create(std::move(v));
    ASSERT_FALSE(t.is_ok());
    EXPECT_NE(t.error().message().find("twice"), std::string::npos) << t.error().message();
  }
  {
    Vocab v = spm_vocab({{"a", -1}});
    v.scores.pop_back();
    EXPECT_FALSE(Tokenizer::create(std::move(v)).is_ok());
  }
  {
    Vocab v = spm_vocab({{"a", -1}});
    v.eos = 100000;
    EXPECT_FALSE(Tokenizer::create(std::move(v)).is_ok());
  }
  {
    Vocab v = bpe_vocab({}, {}, "no-such-pre");
    Result<Tokenizer> t = Tokenizer::create(std::move(v));
    ASSERT_FALSE(t.is_ok());
    EXPECT_EQ(t.error().code(), Code::kUnsupported);
    EXPECT_NE(t.error().message().find("no-such-pre"), std::string::npos);
  }
  {
    Vocab v = bpe_vocab({}, {});
    v.add_bos = true;  // but no bos id
    EXPECT_FALSE(Tokenizer::create(std::move(v)).is_ok());
  }
  {
    Vocab v;
    EXPECT_FALSE(Tokenizer::create(std::move(v)).is_ok());
  }
}

// ---- Pre-tokenizer -----------------------------------------------------------------------

std::vector<std::string> words(const PreTokenizer& p, std::string_view text) {
  Result<std::vector<std::string_view>> r = p.split(text);
  EXPECT_TRUE(r.is_ok()) << r.error().message();
  std::vector<std::string> out;
  if (r.is_ok()) out.assign(r->begin(), r->end());
  return out;
}

using Words = std::vector<std::string>;

TEST(TokenizerPreTokenizer, Gpt2Words) {
  Result<PreTokenizer> p = PreTokenizer::create("gpt-2");
  ASSERT_TRUE(p.is_ok()) << p.error().message();
  EXPECT_EQ(words(*p, "Hello world's  end\n"),
            (Words{"Hello", " world", "'s", " ", " end", "\n"}));
  // "\s+(?!\S)" takes "  " (it leaves one whitespace before "y"); the "\t" no
  // alternative matches stays as a word of its own.
  EXPECT_EQ(words(*p, "x  \ty"), (Words{"x", "  ", "\t", "y"}));
  EXPECT_EQ(words(*p, "\xC3\xA4pfel 42!"), (Words{"\xC3\xA4pfel", " 42", "!"}));  // \p{L} is Unicode
}

TEST(TokenizerPreTokenizer, Llama3GroupsDigitsByThreeAndNewlines) {
  Result<PreTokenizer> p = PreTokenizer::create("llama-bpe");
  ASSERT_TRUE(p.is_ok()) << p.error().message();
  EXPECT_EQ(words(*p, "1234567 ab\n\n  x"), (Words{"123", "456", "7", " ab", "\n\n", " ", " x"}));
  EXPECT_EQ(words(*p, "I'M ok"), (Words{"I", "'M", " ok"}));  // contractions ignore case
}

TEST(TokenizerPreTokenizer, RegexesApplyInSequenceAndGapsAreWords) {
  Result<PreTokenizer> p = PreTokenizer::from_patterns({"b+", "\\s+$"});
  ASSERT_TRUE(p.is_ok()) << p.error().message();
  // "b+" splits off "bb"; then "\s+$" sees the end of each word as the end of input.
  EXPECT_EQ(words(*p, "a  bb c\n"), (Words{"a", "  ", "bb", " c", "\n"}));
  EXPECT_EQ(words(*p, "a \nbb"), (Words{"a", " \n", "bb"}));
  EXPECT_EQ(words(*p, ""), (Words{}));
  // "$" is the very end only (std::regex's meaning), not also before a final newline.
  Result<PreTokenizer> q = PreTokenizer::from_patterns({"x$"});
  ASSERT_TRUE(q.is_ok());
  EXPECT_EQ(words(*q, "ax\n"), (Words{"ax\n"}));
  EXPECT_EQ(words(*q, "ax"), (Words{"a", "x"}));
}

TEST(TokenizerPreTokenizer, EveryKnownNameCompilesAndCoversTheText) {
  const std::string text = "Hello, y'all! 3.14159 \xE4\xBD\xA0\xE5\xA5\xBD  \xF0\x9F\x98\x81\n\n\tend";
  for (const char* name : {"default", "llama3", "llama-bpe", "dbrx", "deepseek-llm",
                           "deepseek-coder", "deepseek-v3", "falcon", "gpt-2", "mpt", "starcoder",
                           "refact", "command-r", "qwen2", "stablelm2", "poro-chat", "viking"}) {
    Result<PreTokenizer> p = PreTokenizer::create(name);
    ASSERT_TRUE(p.is_ok()) << name << ": " << p.error().message();
    std::string joined;
    for (const std::string& w : words(*p, text)) {
      EXPECT_FALSE(w.empty()) << name;
      joined += w;
    }
    EXPECT_EQ(joined, text) << name;
  }
  EXPECT_FALSE(PreTokenizer::create("made-up").is_ok());
  EXPECT_FALSE(PreTokenizer::from_patterns({"(unclosed"}).is_ok());
}

}  // namespace
}  // namespace tandem
