// UTF-8 validation (offsets in errors) and the streaming decoder used when generated
// token pieces are printed.
#include <gtest/gtest.h>

#include <string>

#include "engine/utf8.h"

namespace tandem {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD

TEST(TokenizerUtf8, FindInvalidNamesTheFirstBadByte) {
  EXPECT_EQ(utf8::find_invalid(""), utf8::kNpos);
  EXPECT_EQ(utf8::find_invalid("plain ascii"), utf8::kNpos);
  EXPECT_EQ(utf8::find_invalid("\xC3\xA4pfel \xE2\x96\x81 \xF0\x9F\xA6\x99"), utf8::kNpos);
  EXPECT_EQ(utf8::find_invalid("ab\x80"), 2u);              // lone continuation byte
  EXPECT_EQ(utf8::find_invalid("ab\xC3(d"), 2u);             // lead without continuation
  EXPECT_EQ(utf8::find_invalid("x\xC0\x80"), 1u);            // overlong NUL
  EXPECT_EQ(utf8::find_invalid("\xE0\x80\xAF"), 0u);         // overlong '/'
  EXPECT_EQ(utf8::find_invalid("ok\xED\xA0\x80"), 2u);       // surrogate U+D800
  EXPECT_EQ(utf8::find_invalid("\xF4\x90\x80\x80"), 0u);     // U+110000
  EXPECT_EQ(utf8::find_invalid("\xF5\x80\x80\x80"), 0u);     // F5 is never a lead
  EXPECT_EQ(utf8::find_invalid("abc\xE2\x96"), 3u);          // cut off at the end
  EXPECT_EQ(utf8::find_invalid("\xF4\x8F\xBF\xBF"), utf8::kNpos);  // U+10FFFF is fine
}

TEST(TokenizerUtf8, ValidateErrorSaysWhereAndWhat) {
  EXPECT_TRUE(utf8::validate("h\xC3\xA9llo").is_ok());
  const Status s = utf8::validate("hello \xFF world", "prompt");
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_NE(s.error().message().find("prompt"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("byte offset 6"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("0xff"), std::string::npos) << s.error().message();
}

TEST(TokenizerUtf8, DecodeAndAppendRoundTrip) {
  for (uint32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u, 0x10FFFFu}) {
    std::string s;
    utf8::append(&s, cp);
    size_t i = 0;
    EXPECT_EQ(utf8::decode(s, &i), cp);
    EXPECT_EQ(i, s.size());
    EXPECT_EQ(utf8::valid_sequence_length(s, 0), s.size());
  }
}

TEST(TokenizerUtf8, StreamHoldsBackASplitCharacter) {
  Utf8StreamDecoder d;
  // "€" = E2 82 AC, pushed one byte at a time after some ASCII.
  EXPECT_EQ(d.push("a\xE2"), "a");
  EXPECT_EQ(d.pending(), 1u);
  EXPECT_EQ(d.push("\x82"), "");
  EXPECT_EQ(d.pending(), 2u);
  EXPECT_EQ(d.push("\xAC!"), "\xE2\x82\xAC!");
  EXPECT_EQ(d.pending(), 0u);
  // A 4-byte emoji split 1 + 3.
  EXPECT_EQ(d.push("\xF0"), "");
  EXPECT_EQ(d.push("\x9F\xA6\x99"), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(d.flush(), "");
}

TEST(TokenizerUtf8, StreamReplacesInvalidBytesAndKeepsGoing) {
  Utf8StreamDecoder d;
  // A lone continuation byte and an invalid lead each become one U+FFFD.
  EXPECT_EQ(d.push("x\x80y\xFFz"), "x" + kFffd + "y" + kFffd + "z");
  // A lead byte followed by a non-continuation: U+FFFD, then the ASCII byte itself.
  EXPECT_EQ(d.push("\xC3("), kFffd + "(");
  // A truncated 3-byte prefix broken by ASCII in the next push: one U+FFFD for the prefix.
  EXPECT_EQ(d.push("\xE2\x82"), "");
  EXPECT_EQ(d.push("A"), kFffd + "A");
  // Surrogate: E D is a valid lead but A0 is not allowed after it -> ED alone is replaced,
  // then A0 and 80 are each lone continuation bytes.
  EXPECT_EQ(d.push("\xED\xA0\x80"), kFffd + kFffd + kFffd);
}

TEST(TokenizerUtf8, FlushReplacesAnUnfinishedCharacter) {
  Utf8StreamDecoder d;
  EXPECT_EQ(d.push("ok\xF0\x9F"), "ok");
  EXPECT_EQ(d.flush(), kFffd);
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.flush(), "");
  EXPECT_EQ(d.push("\xC3\xA9"), "\xC3\xA9");  // usable again after flush
}

}  // namespace
}  // namespace tandem
