// The made-up SPM vocab of make-model and vocab_to_gguf: layout, uniqueness, every
// piece reachable by SPM merges, a round trip through GGUF and load_vocab (also for
// real vocabs), and English splitting into multi-character pieces. Also the GGUF
// writer's write_tensor_part, which make-model streams through.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "engine/made_up_vocab.h"
#include "engine/tiktoken.h"
#include "engine/tokenizer.h"
#include "engine/vocab.h"
#include "engine/vocab_gguf.h"
#include "storage/gguf.h"
#include "test_data.h"

namespace tandem {
namespace {

const std::string kSpace = "\xE2\x96\x81";

// vocab -> GGUF bytes (no tensors) -> load_vocab.
Vocab round_trip(const Vocab& v) {
  gguf::Writer w;
  for (gguf::KeyValue& kv : vocab_to_gguf(v)) w.add(std::move(kv.key), std::move(kv.value));
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  EXPECT_TRUE(bytes.is_ok()) << bytes.error().message();
  Result<gguf::File> f = gguf::File::parse(*bytes, "round-trip");
  EXPECT_TRUE(f.is_ok()) << f.error().message();
  Result<Vocab> back = load_vocab(*f);
  EXPECT_TRUE(back.is_ok()) << back.error().message();
  return back.is_ok() ? std::move(back).value() : Vocab{};
}

void expect_same_vocab(const Vocab& a, const Vocab& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.token_types, b.token_types);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.bos, b.bos);
  EXPECT_EQ(a.eos, b.eos);
  EXPECT_EQ(a.eot, b.eot);
  EXPECT_EQ(a.unk, b.unk);
  EXPECT_EQ(a.pad, b.pad);
  EXPECT_EQ(a.add_bos, b.add_bos);
  EXPECT_EQ(a.add_eos, b.add_eos);
  EXPECT_EQ(a.add_space_prefix, b.add_space_prefix);
  if (a.type == Vocab::Type::kBpe) {
    EXPECT_EQ(a.pre, b.pre);
  }
}

TEST(MadeUpVocab, LayoutFollowsLlamaCppSpmConventions) {
  const Vocab v = made_up_vocab(512).value();
  ASSERT_EQ(v.n_vocab(), 512);
  EXPECT_EQ(v.type, Vocab::Type::kSpm);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.token_types[0], static_cast<int32_t>(TokenType::kUnknown));
  EXPECT_EQ(v.token_types[1], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(v.token_types[2], static_cast<int32_t>(TokenType::kControl));
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 0x0A], "<0x0A>");
  EXPECT_EQ(v.tokens[258], "<0xFF>");
  for (int i = 3; i < 259; ++i) EXPECT_EQ(v.token_types[i], static_cast<int32_t>(TokenType::kByte)) << i;
  for (int i = 259; i < 512; ++i) {
    EXPECT_EQ(v.token_types[i], static_cast<int32_t>(TokenType::kNormal)) << i;
    EXPECT_EQ(v.scores[i], -static_cast<float>(i - 259)) << i;
  }
  EXPECT_EQ(v.tokens[259], kSpace);  // the most frequent character
  EXPECT_EQ(v.unk, 0);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
}

TEST(MadeUpVocab, PiecesAreUniqueAsciiAndReachableByMerges) {
  for (int32_t n : {kMinMadeUpVocab, 300, 512, 32000, 151936}) {
    const Vocab v = made_up_vocab(n).value();
    ASSERT_EQ(v.n_vocab(), n);
    const std::set<std::string> all(v.tokens.begin(), v.tokens.end());
    EXPECT_EQ(all.size(), v.tokens.size()) << n << ": duplicate tokens";
    for (int32_t i = 259; i < n; ++i) {
      const std::string& t = v.tokens[static_cast<size_t>(i)];
      ASSERT_FALSE(t.empty());
      const bool spaced = t.rfind(kSpace, 0) == 0;
      const std::string rest = spaced ? t.substr(kSpace.size()) : t;
      for (char c : rest) ASSERT_TRUE(c > ' ' && c <= '~') << n << ": token " << i << " '" << t << "'";
      ASSERT_EQ(rest.find(kSpace), std::string::npos);
      if (t.size() > 1 && !(spaced && rest.size() <= 1)) {
        // An earlier piece plus one character: SPM reaches it by merging the two.
        const std::string prefix = t.substr(0, t.size() - 1);
        const auto it = std::find(v.tokens.begin() + 259, v.tokens.begin() + i, prefix);
        ASSERT_NE(it, v.tokens.begin() + i) << n << ": '" << t << "' has no earlier prefix piece";
        ASSERT_TRUE(all.count(t.substr(t.size() - 1))) << t;
      }
      if (n > 30000 && i > 2000) break;  // the find above is quadratic; the start suffices
    }
  }
  EXPECT_FALSE(made_up_vocab(kMinMadeUpVocab - 1).is_ok());
  EXPECT_FALSE(made_up_vocab(0).is_ok());
}

TEST(MadeUpVocab, LargeVocabsHoldCommonEnglishPieces) {
  const Vocab v = made_up_vocab(128256).value();
  const std::set<std::string> all(v.tokens.begin(), v.tokens.end());
  for (const std::string w : {"the", "and", "to", "in", "is", "it"}) {
    EXPECT_TRUE(all.count(kSpace + w)) << w;
  }
  EXPECT_TRUE(all.count(kSpace + "T"));
  EXPECT_TRUE(all.count(kSpace + "The"));
  EXPECT_TRUE(all.count(kSpace + "7"));
}

TEST(MadeUpVocab, RoundTripsThroughGgufAndLoadVocab) {
  for (int32_t n : {512, 32000}) {
    const Vocab v = made_up_vocab(n).value();
    expect_same_vocab(v, round_trip(v));
  }
}

TEST(MadeUpVocab, EnglishSplitsIntoMultiCharacterPiecesWithoutByteFallback) {
  const Vocab v = made_up_vocab(32000).value();
  Result<Tokenizer> tok = Tokenizer::create(v);
  ASSERT_TRUE(tok.is_ok()) << tok.error().message();
  const std::string text = "The quick brown fox jumps over the lazy dog, and then it rests.";
  Result<std::vector<int32_t>> ids = tok->encode(text, false, false);
  ASSERT_TRUE(ids.is_ok());
  std::string back;
  for (int32_t id : *ids) {
    EXPECT_GE(id, 259) << "byte or special token in plain ASCII text";
    back += tok->token_to_piece(id, false);
  }
  EXPECT_EQ(back, " " + text);  // SPM's space prefix
  // Fewer tokens than characters: pieces are longer than one character on average.
  EXPECT_LT(ids->size() * 2, text.size()) << ids->size() << " tokens";
  // Non-ASCII text falls back to byte tokens.
  Result<std::vector<int32_t>> cjk = tok->encode("\xE6\x97\xA5", false, false);
  ASSERT_TRUE(cjk.is_ok());
  EXPECT_EQ(cjk->size(), 4u);  // "▁" then 3 bytes
}

TEST(VocabGguf, RealVocabsRoundTrip) {
  const std::string spm = testing::test_data_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  const std::string bpe = testing::test_data_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
  TANDEM_REQUIRE_DATA(spm);
  TANDEM_REQUIRE_DATA(bpe);
  for (const std::string& path : {spm, bpe}) {
    Result<gguf::File> f = gguf::File::open(path);
    ASSERT_TRUE(f.is_ok());
    const Vocab v = load_vocab(*f).value();
    expect_same_vocab(v, round_trip(v));
  }
  const std::string tk = testing::test_data_path("models/tokenizers/llama3/tokenizer.model");
  TANDEM_REQUIRE_DATA(tk);
  const Vocab v = load_llama3_tiktoken(tk).value();
  const Vocab back = round_trip(v);
  expect_same_vocab(v, back);
  EXPECT_EQ(back.pre, "llama-bpe");
}

TEST(GgufWriterParts, PartsWriteWhatWholeTensorsWrite) {
  const std::vector<std::byte> a(100, std::byte{1}), b(64 * 18 / 32 * 3, std::byte{7});
  auto make_writer = [] {
    gguf::Writer w;
    w.add("k", gguf::Value::u32(5));
    EXPECT_TRUE(w.add_tensor("a", {25}, DType::kF32).is_ok());
    EXPECT_TRUE(w.add_tensor("b", {64, 3}, DType::kQ4_0).is_ok());
    return w;
  };
  gguf::Writer whole = make_writer();
  const std::span<const std::byte> datas[] = {a, b};
  const std::vector<std::byte> expected = whole.to_bytes(datas).value();

  const std::string path = ::testing::TempDir() + "/tandem_writer_parts.gguf";
  gguf::Writer w = make_writer();
  ASSERT_TRUE(w.open(path).is_ok());
  ASSERT_TRUE(w.write_header().is_ok());
  ASSERT_TRUE(w.write_tensor_part("a", std::span(a).first(60)).is_ok());
  EXPECT_FALSE(w.write_tensor_data("a", a).is_ok());  // a is half written
  EXPECT_FALSE(w.write_tensor_part("b", std::span(b).first(1)).is_ok());  // a comes first
  EXPECT_FALSE(w.write_tensor_part("a", std::span(a).first(41)).is_ok());  // one byte too many
  ASSERT_TRUE(w.write_tensor_part("a", std::span(a).subspan(60)).is_ok());
  for (size_t i = 0; i < b.size(); i += 36)
    ASSERT_TRUE(w.write_tensor_part("b", std::span(b).subspan(i, 36)).is_ok());
  ASSERT_TRUE(w.close().is_ok());
  const std::string got = testing::read_file(path);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), reinterpret_cast<const std::byte*>(got.data())));
  std::filesystem::remove(path);

  gguf::Writer partial = make_writer();
  ASSERT_TRUE(partial.open(path).is_ok());
  ASSERT_TRUE(partial.write_header().is_ok());
  ASSERT_TRUE(partial.write_tensor_part("a", std::span(a).first(10)).is_ok());
  EXPECT_FALSE(partial.close().is_ok());  // a is incomplete
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tandem
