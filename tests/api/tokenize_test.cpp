// C API: tokenize, token_to_piece and detokenize on stories260K, checked against the
// golden token ids and texts, and their buffer rules.
#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

class ApiTokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_STORIES();
    model_ = load_stories();
    ASSERT_NE(model_, nullptr);
  }

  // Tokenizes with a buffer of the size the first call asks for.
  std::vector<int32_t> tokenize(const std::string& text, int add_bos, int parse_special = 0) {
    size_t n = 0;
    tandem_status s = tandem_tokenize(model_.get(), text.data(), text.size(), add_bos, parse_special,
                                      nullptr, 0, &n);
    EXPECT_TRUE(s == TANDEM_ERR_BUFFER_TOO_SMALL || (s == TANDEM_OK && n == 0)) << tandem_last_error();
    std::vector<int32_t> ids(n);
    size_t n2 = 0;
    s = tandem_tokenize(model_.get(), text.data(), text.size(), add_bos, parse_special, ids.data(),
                        ids.size(), &n2);
    EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
    EXPECT_EQ(n2, n);
    return ids;
  }

  std::string detokenize(const std::vector<int32_t>& ids, int render_special) {
    size_t n = 0;
    tandem_status s = tandem_detokenize(model_.get(), ids.data(), ids.size(), render_special, nullptr, 0, &n);
    EXPECT_TRUE(s == TANDEM_ERR_BUFFER_TOO_SMALL || (s == TANDEM_OK && n == 0)) << tandem_last_error();
    std::string text(n, '\0');
    s = tandem_detokenize(model_.get(), ids.data(), ids.size(), render_special, text.data(), text.size(), &n);
    EXPECT_EQ(s, TANDEM_OK) << tandem_last_error();
    return text;
  }

  ModelPtr model_;
};

TEST_F(ApiTokenize, GoldenPrompts) {
  EXPECT_EQ(tokenize(kPrompt, TANDEM_ADD_BOS_DEFAULT), kPromptTokens);
  EXPECT_EQ(tokenize("The little dog", TANDEM_ADD_BOS_DEFAULT), (std::vector<int32_t>{1, 291, 376, 400, 428}));
  EXPECT_EQ(tokenize("Lily and Ben went to the park. They", TANDEM_ADD_BOS_DEFAULT),
            (std::vector<int32_t>{1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433, 426, 342}));
}

TEST_F(ApiTokenize, AddBosChoices) {
  EXPECT_EQ(tokenize(kPrompt, 1), kPromptTokens);
  EXPECT_EQ(tokenize(kPrompt, 0), std::vector<int32_t>(kPromptTokens.begin() + 1, kPromptTokens.end()));
  EXPECT_EQ(tokenize("", TANDEM_ADD_BOS_DEFAULT), std::vector<int32_t>{1});
  EXPECT_EQ(tokenize("", 0), std::vector<int32_t>{});
}

TEST_F(ApiTokenize, ParseSpecial) {
  const std::vector<int32_t> special = tokenize("<s>", 0, /*parse_special=*/1);
  EXPECT_EQ(special, std::vector<int32_t>{1});
  const std::vector<int32_t> plain = tokenize("<s>", 0, /*parse_special=*/0);
  EXPECT_GT(plain.size(), 1u);
  for (int32_t t : plain) EXPECT_NE(t, 1);
}

TEST_F(ApiTokenize, BufferTooSmallReportsTheSizeAndWritesNothing) {
  std::vector<int32_t> buf(4, -7);
  size_t n = 0;
  EXPECT_EQ(tandem_tokenize(model_.get(), kPrompt, sizeof kPrompt - 1, TANDEM_ADD_BOS_DEFAULT, 0, buf.data(), 4, &n),
            TANDEM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, kPromptTokens.size());
  EXPECT_EQ(buf, std::vector<int32_t>(4, -7));
  EXPECT_NE(std::string(tandem_last_error()).find("needs 5 tokens"), std::string::npos) << tandem_last_error();

  buf.assign(5, -7);
  EXPECT_EQ(tandem_tokenize(model_.get(), kPrompt, sizeof kPrompt - 1, TANDEM_ADD_BOS_DEFAULT, 0, buf.data(), 5, &n),
            TANDEM_OK);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(buf, kPromptTokens);
}

TEST_F(ApiTokenize, TextLengthIsExplicit) {
  // Only the first 9 bytes, "Once upon", count.
  size_t n = 0;
  int32_t ids[8];
  ASSERT_EQ(tandem_tokenize(model_.get(), kPrompt, 9, 1, 0, ids, 8, &n), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(std::vector<int32_t>(ids, ids + n), (std::vector<int32_t>{1, 403, 407}));
}

TEST_F(ApiTokenize, BadArguments) {
  size_t n = 0;
  int32_t ids[8];
  EXPECT_EQ(tandem_tokenize(nullptr, "a", 1, 1, 0, ids, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("model is NULL"), std::string::npos);
  EXPECT_EQ(tandem_tokenize(model_.get(), "a", 1, 1, 0, ids, 8, nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_tokenize(model_.get(), nullptr, 3, 1, 0, ids, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_tokenize(model_.get(), "a", 1, 1, 0, nullptr, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_tokenize(model_.get(), "a", 1, 2, 0, ids, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_tokenize(model_.get(), "a", 1, -2, 0, ids, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  // Invalid UTF-8: the engine names the byte offset.
  const char bad[] = {'a', 'b', static_cast<char>(0xC3), 'c'};
  EXPECT_EQ(tandem_tokenize(model_.get(), bad, sizeof bad, 1, 0, ids, 8, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_STRNE(tandem_last_error(), "");
}

TEST_F(ApiTokenize, PiecesAndTheirBuffers) {
  char buf[16];
  size_t n = 0;
  ASSERT_EQ(tandem_token_to_piece(model_.get(), 403, 0, buf, sizeof buf, &n), TANDEM_OK) << tandem_last_error();
  EXPECT_EQ(std::string(buf, n), " Once");
  EXPECT_EQ(buf[n], '\0');  // room for a NUL: written

  std::fill(std::begin(buf), std::end(buf), 'x');
  ASSERT_EQ(tandem_token_to_piece(model_.get(), 403, 0, buf, 5, &n), TANDEM_OK);  // exactly the bytes
  EXPECT_EQ(std::string(buf, 5), " Once");
  EXPECT_EQ(buf[5], 'x');  // no room for a NUL: none written

  std::fill(std::begin(buf), std::end(buf), 'x');
  EXPECT_EQ(tandem_token_to_piece(model_.get(), 403, 0, buf, 4, &n), TANDEM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(std::string(buf, 4), "xxxx");
  EXPECT_EQ(tandem_token_to_piece(model_.get(), 403, 0, nullptr, 0, &n), TANDEM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 5u);

  // Control tokens are rendered only on request; byte tokens are their byte (<0x41> = 3 + 0x41).
  ASSERT_EQ(tandem_token_to_piece(model_.get(), 1, 0, buf, sizeof buf, &n), TANDEM_OK);
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(tandem_token_to_piece(model_.get(), 1, 1, buf, sizeof buf, &n), TANDEM_OK);
  EXPECT_EQ(std::string(buf, n), "<s>");
  ASSERT_EQ(tandem_token_to_piece(model_.get(), 3 + 0x41, 0, buf, sizeof buf, &n), TANDEM_OK);
  EXPECT_EQ(std::string(buf, n), "A");

  EXPECT_EQ(tandem_token_to_piece(model_.get(), 512, 0, buf, sizeof buf, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("512"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_token_to_piece(model_.get(), -1, 0, buf, sizeof buf, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_token_to_piece(nullptr, 403, 0, buf, sizeof buf, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_token_to_piece(model_.get(), 403, 0, buf, sizeof buf, nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(tandem_token_to_piece(model_.get(), 403, 0, nullptr, 4, &n), TANDEM_ERR_INVALID_ARGUMENT);
}

TEST_F(ApiTokenize, DetokenizeGoldenTexts) {
  EXPECT_EQ(detokenize(kGreedyTokens, 0), kGreedyText);
  EXPECT_EQ(detokenize(kPromptTokens, 0), " Once upon a time");
  EXPECT_EQ(detokenize(kPromptTokens, 1), "<s> Once upon a time");
  EXPECT_EQ(detokenize({}, 0), "");
}

TEST_F(ApiTokenize, DetokenizeErrors) {
  char buf[8];
  size_t n = 0;
  EXPECT_EQ(tandem_detokenize(model_.get(), kPromptTokens.data(), kPromptTokens.size(), 0, buf, sizeof buf, &n),
            TANDEM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, std::string(" Once upon a time").size());
  const std::vector<int32_t> bad = {403, 9999, 407};
  EXPECT_EQ(tandem_detokenize(model_.get(), bad.data(), bad.size(), 0, buf, sizeof buf, &n),
            TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("9999 at index 1"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_detokenize(model_.get(), nullptr, 2, 0, buf, sizeof buf, &n), TANDEM_ERR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace tandem_api_test
