// Building a byte-level BPE vocab from a tiktoken file: tokens at their ranks in the
// GPT-2 alphabet, merges rebuilt from ranks, Llama 3 special tokens, and clear errors.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/tiktoken.h"
#include "engine/tokenizer.h"

namespace tandem {
namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;

// "a" "b" "c" " " "ab" "bc" "abc" at ranks 0..6 (listed out of order on purpose).
const char* kTiny =
    "YWJj 6\n"   // abc
    "YQ== 0\n"   // a
    "Yg== 1\n"   // b
    "Yw== 2\n"   // c
    "IA== 3\n"   // ' '
    "YWI= 4\n"   // ab
    "YmM= 5\n";  // bc

TEST(TokenizerTiktoken, TokensMergesAndSpecials) {
  Result<Vocab> r = parse_llama3_tiktoken(kTiny, "tiny.model");
  ASSERT_TRUE(r.is_ok()) << r.error().message();
  const Vocab& v = *r;
  EXPECT_EQ(v.type, Vocab::Type::kBpe);
  EXPECT_EQ(v.pre, "llama-bpe");
  ASSERT_EQ(v.n_vocab(), 7 + kLlama3SpecialTokens);
  EXPECT_EQ(v.tokens[0], "a");
  EXPECT_EQ(v.tokens[3], "\xC4\xA0");  // ' ' in the byte alphabet (U+0120)
  EXPECT_EQ(v.tokens[6], "abc");
  // Every split into two tokens, by the rank of the result, then of the left, right parts.
  EXPECT_EQ(v.merges, (Merges{{"a", "b"}, {"b", "c"}, {"a", "bc"}, {"ab", "c"}}));
  EXPECT_EQ(v.tokens[7], "<|begin_of_text|>");
  EXPECT_EQ(v.tokens[7 + 9], "<|eot_id|>");
  EXPECT_EQ(v.tokens.back(), "<|reserved_special_token_250|>");
  EXPECT_EQ(v.bos, 7);
  EXPECT_EQ(v.eos, 8);
  EXPECT_EQ(v.eot, 16);
  EXPECT_TRUE(v.add_bos);
  EXPECT_EQ(v.token_types[0], static_cast<int32_t>(TokenType::kNormal));
  EXPECT_EQ(v.token_types[7], static_cast<int32_t>(TokenType::kControl));

  Result<Tokenizer> t = Tokenizer::create(*r);
  ASSERT_TRUE(t.is_ok()) << t.error().message();
  Result<std::vector<int32_t>> ids = t->encode("abc cab", true, false);
  ASSERT_TRUE(ids.is_ok());
  // "abc" is a token (taken whole); " cab" -> ' ' c ab: no merge joins ' ' and c.
  EXPECT_EQ(*ids, (std::vector<int32_t>{7, 6, 3, 2, 4}));
  EXPECT_EQ(t->token_to_piece(3, false), " ");
}

TEST(TokenizerTiktoken, BadFilesNameTheLine) {
  auto err = [](const char* text) {
    Result<Vocab> r = parse_llama3_tiktoken(text, "bad.model");
    EXPECT_FALSE(r.is_ok()) << text;
    return r.is_ok() ? std::string() : r.error().message();
  };
  EXPECT_NE(err("YQ== 0\nY!== 1\n").find("bad.model:2"), std::string::npos);  // not base64
  EXPECT_NE(err("YQ== 0\nYg==\n").find("bad.model:2"), std::string::npos);    // no rank
  EXPECT_NE(err("YQ== 0\nYg== -1\n").find("bad.model:2"), std::string::npos);
  EXPECT_NE(err("YQ== 0\nYg== 0\n").find("already given on line 1"), std::string::npos);
  EXPECT_NE(err("YQ== 0\nYg== 5\n").find("rank 5"), std::string::npos);       // a gap in ranks
  EXPECT_NE(err("YQ== 0\nYQ== 1\n").find("repeats"), std::string::npos);      // same token twice
  EXPECT_NE(err("").find("no tokens"), std::string::npos);
  Result<Vocab> missing = load_llama3_tiktoken("/nonexistent/tokenizer.model");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_NE(missing.error().message().find("/nonexistent/tokenizer.model"), std::string::npos);
}

}  // namespace
}  // namespace tandem
