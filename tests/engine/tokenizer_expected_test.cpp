// Tokenizations recorded by other implementations: llama2.c's expected encodings (Llama 2
// vocab, with BOS), Meta's Llama 3 tokenizer tests (tiktoken vocab), and llama.cpp's
// golden files for stories260K and the synthetic models (token ids of the prompts, and
// the bytes of the greedy continuations as token_to_piece renders them).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "engine/tiktoken.h"
#include "engine/tokenizer.h"
#include "engine/utf8.h"
#include "engine/vocab.h"
#include "storage/gguf.h"
#include "test_data.h"
#include "tokenizer_test_util.h"

namespace tandem {
namespace {

Result<Tokenizer> tokenizer_from_gguf(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(path));
  TANDEM_ASSIGN_OR_RETURN(Vocab v, load_vocab(f));
  return Tokenizer::create(std::move(v));
}

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::istringstream is(s);
  long long id = 0;
  while (is >> id) ids.push_back(static_cast<int32_t>(id));
  return ids;
}

// A C string literal's body ("a\nb \"c\"") -> its bytes.
std::string unescape_c(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      o += s[i];
      continue;
    }
    const char c = s[++i];
    o += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
  }
  return o;
}

std::string to_hex(const std::string& bytes) {
  std::string h;
  char b[4];
  for (char c : bytes) {
    std::snprintf(b, sizeof(b), "%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    h += b;
  }
  return h;
}

TEST(TokenizerExpected, Llama2EncodingsWithBos) {
  const std::string expected_path =
      testing::test_data_path("models/tokenizers/llama2/tokenizer.bin.expected_encodings.txt");
  const std::string vocab_path =
      testing::test_data_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  TANDEM_REQUIRE_DATA(expected_path);
  TANDEM_REQUIRE_DATA(vocab_path);
  Result<Tokenizer> tok = tokenizer_from_gguf(vocab_path);
  ASSERT_TRUE(tok.is_ok()) << tok.error().message();
  ASSERT_TRUE(tok->add_bos_default());

  std::istringstream lines(testing::read_file(expected_path));
  std::string line;
  int cases = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '"') continue;  // comments
    const size_t arrow = line.rfind("\"  => ");
    ASSERT_NE(arrow, std::string::npos) << line;
    const std::string text = unescape_c(line.substr(1, arrow - 1));
    const std::vector<int32_t> expected = parse_ids(line.substr(arrow + 6));
    Result<std::vector<int32_t>> got = tok->encode(text, /*add_bos=*/true, /*parse_special=*/false);
    ASSERT_TRUE(got.is_ok()) << got.error().message();
    EXPECT_EQ(testing::id_diff(expected, *got), "") << testing::printable(text);
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

class TokenizerLlama3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = testing::test_data_path("models/tokenizers/llama3/tokenizer.model");
    if (!testing::file_exists(path)) return;
    Result<Vocab> v = load_llama3_tiktoken(path);
    ASSERT_TRUE(v.is_ok()) << v.error().message();
    Result<Tokenizer> t = Tokenizer::create(std::move(v).value());
    ASSERT_TRUE(t.is_ok()) << t.error().message();
    tok_ = new Tokenizer(std::move(t).value());
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  void SetUp() override {
    if (tok_ == nullptr) {
      if (testing::data_required()) FAIL() << "required test data is missing";
      GTEST_SKIP() << "missing models/tokenizers/llama3/tokenizer.model";
    }
  }
  static Tokenizer* tok_;
};
Tokenizer* TokenizerLlama3::tok_ = nullptr;

TEST_F(TokenizerLlama3, ExpectedEncodings) {
  const std::string path = testing::test_data_path("models/tokenizers/llama3/expected_encodings.txt");
  TANDEM_REQUIRE_DATA(path);
  std::istringstream lines(testing::read_file(path));
  std::string line;
  int checks = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("encode(\"", 0) == 0) {
      // encode("TEXT", bos=True, eos=True) => ids
      const size_t q = line.find("\", bos=True, eos=True) => ");
      ASSERT_NE(q, std::string::npos) << line;
      const std::string text = line.substr(8, q - 8);
      std::vector<int32_t> expected = parse_ids(line.substr(line.find("=> ") + 3));
      Result<std::vector<int32_t>> got = tok_->encode(text, true, false);
      ASSERT_TRUE(got.is_ok()) << got.error().message();
      got->push_back(tok_->eos());  // Tandem never appends EOS; the reference did
      EXPECT_EQ(testing::id_diff(expected, *got), "") << text;
      ++checks;
    } else if (line.rfind("special: ", 0) == 0) {
      // special: <|name|>=id ...
      std::istringstream items(line.substr(9));
      std::string item;
      while (items >> item) {
        const size_t eq = item.rfind('=');
        const std::string name = item.substr(0, eq);
        const int32_t id = std::stoi(item.substr(eq + 1));
        EXPECT_EQ(tok_->find_token(name), id) << name;
        EXPECT_EQ(tok_->token_to_piece(id, /*render_special=*/true), name);
        EXPECT_EQ(tok_->token_to_piece(id, /*render_special=*/false), "") << name;
        ++checks;
      }
    } else if (line.rfind("chat user message \"", 0) == 0) {
      // The Llama 3 chat format of one user message, control tokens parsed from text.
      const size_t q = line.find("\" => ");
      const std::string content = line.substr(19, q - 19);
      const std::vector<int32_t> expected = parse_ids(line.substr(q + 5));
      const std::string text =
          "<|start_header_id|>user<|end_header_id|>\n\n" + content + "<|eot_id|>";
      Result<std::vector<int32_t>> got = tok_->encode(text, false, /*parse_special=*/true);
      ASSERT_TRUE(got.is_ok()) << got.error().message();
      EXPECT_EQ(testing::id_diff(expected, *got), "");
      // Without parse_special the same text is plain text: no control ids at all.
      Result<std::vector<int32_t>> plain = tok_->encode(text, false, false);
      ASSERT_TRUE(plain.is_ok());
      for (int32_t id : *plain) EXPECT_LT(id, 128000) << "control token parsed from plain text";
      ++checks;
    }
  }
  EXPECT_EQ(checks, 7);
}

TEST_F(TokenizerLlama3, SpecialIdsAndEndOfGeneration) {
  EXPECT_EQ(tok_->n_vocab(), 128256);
  EXPECT_EQ(tok_->bos(), 128000);
  EXPECT_EQ(tok_->eos(), 128001);
  EXPECT_EQ(tok_->eot(), 128009);
  EXPECT_TRUE(tok_->add_bos_default());
  EXPECT_TRUE(tok_->is_eog(128001));
  EXPECT_TRUE(tok_->is_eog(128009));
  EXPECT_FALSE(tok_->is_eog(128000));
  EXPECT_FALSE(tok_->is_eog(128006));
  EXPECT_FALSE(tok_->is_eog(13));
  // Every two-token split of every token, as in Meta-Llama-3's tokenizer.json.
  EXPECT_EQ(tok_->vocab().merges.size(), 280147u);
  EXPECT_EQ(tok_->vocab().merges.front(),
            (std::pair<std::string, std::string>{"\xC4\xA0", "\xC4\xA0"}));  // "Ġ Ġ"
  EXPECT_EQ(tok_->find_token("<|reserved_special_token_250|>"), 128255);
  EXPECT_EQ(tok_->find_token("<|reserved_special_token_5|>"), 128010);
  // Byte-level pieces come back as raw bytes ("Ġworld" is " world", "Ċ" is "\n").
  Result<std::vector<int32_t>> ids = tok_->encode(" world\n", false, false);
  ASSERT_TRUE(ids.is_ok());
  std::string text;
  for (int32_t id : *ids) text += tok_->token_to_piece(id, false);
  EXPECT_EQ(text, " world\n");
}

// The prompts of a golden file tokenize to its token ids, and the greedy continuation's
// ids render (token_to_piece, special=false) to its exact bytes.
void check_golden(const std::string& golden_rel) {
  const std::string golden_path = testing::test_data_path(golden_rel);
  TANDEM_REQUIRE_DATA(golden_path);
  const nlohmann::json g = nlohmann::json::parse(testing::read_file(golden_path));
  const std::string model_path = testing::test_data_path(g.at("model_path").get<std::string>());
  TANDEM_REQUIRE_DATA(model_path);
  Result<Tokenizer> tok = tokenizer_from_gguf(model_path);
  ASSERT_TRUE(tok.is_ok()) << tok.error().message();
  EXPECT_EQ(tok->n_vocab(), g.at("n_vocab").get<int32_t>());
  EXPECT_EQ(tok->bos(), g.at("bos_id").get<int32_t>());
  EXPECT_EQ(tok->eos(), g.at("eos_id").get<int32_t>());
  EXPECT_EQ(tok->add_bos_default(), g.at("add_bos").get<bool>());
  int n_prompts = 0;
  for (const auto& p : g.at("prompts")) {
    const std::string text = p.at("text").get<std::string>();
    const std::vector<int32_t> expected = p.at("tokens").get<std::vector<int32_t>>();
    Result<std::vector<int32_t>> got = tok->encode(text, tok->add_bos_default(), false);
    ASSERT_TRUE(got.is_ok()) << got.error().message();
    EXPECT_EQ(testing::id_diff(expected, *got), "") << golden_rel << " " << testing::printable(text);
    const auto pieces = p.at("pieces").get<std::vector<std::string>>();
    ASSERT_EQ(pieces.size(), expected.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
      EXPECT_EQ(tok->token_to_piece(expected[i], /*render_special=*/true), pieces[i])
          << golden_rel << " token " << expected[i];
    }
    const auto& greedy = p.at("greedy");
    const auto gen = greedy.at("tokens").get<std::vector<int32_t>>();
    std::string bytes;
    int first_eog = -1;
    for (size_t i = 0; i < gen.size(); ++i) {
      bytes += tok->token_to_piece(gen[i], /*render_special=*/false);
      if (first_eog < 0 && tok->is_eog(gen[i])) first_eog = static_cast<int>(i);
    }
    EXPECT_EQ(to_hex(bytes), greedy.at("text_hex").get<std::string>()) << golden_rel;
    EXPECT_EQ(utf8::find_invalid(bytes) != utf8::kNpos, greedy.at("text_lossy").get<bool>());
    const auto& eog = greedy.at("first_eog_step");
    EXPECT_EQ(first_eog, eog.is_null() ? -1 : eog.get<int>()) << golden_rel;
    ++n_prompts;
  }
  EXPECT_EQ(n_prompts, 3);
}

TEST(TokenizerExpected, GoldenStories260K) { check_golden("golden/stories260K.json"); }
TEST(TokenizerExpected, GoldenTinyLlamaSpm512) { check_golden("golden/tiny-llama-spm512-f16.json"); }
TEST(TokenizerExpected, GoldenTinyQwen2Bpe4k) { check_golden("golden/tiny-qwen2-bpe4k-f16.json"); }

TEST(TokenizerExpected, Stories260KHelloWorld) {
  const std::string path = testing::test_data_path("models/stories260K.gguf");
  TANDEM_REQUIRE_DATA(path);
  Result<Tokenizer> tok = tokenizer_from_gguf(path);
  ASSERT_TRUE(tok.is_ok()) << tok.error().message();
  Result<std::vector<int32_t>> ids = tok->encode("Hello world", tok->add_bos_default(), false);
  ASSERT_TRUE(ids.is_ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 346, 306, 414, 263, 304, 341}));
  EXPECT_EQ(tok->unk(), 0);
  EXPECT_FALSE(tok->is_eog(1));
  EXPECT_TRUE(tok->is_eog(2));
}

}  // namespace
}  // namespace tandem
