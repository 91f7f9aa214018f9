// load_vocab on GGUF files written in memory: llama.cpp's defaults for absent keys, and
// clear errors (file, key, what is wrong) for bad tokenizer metadata.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "engine/vocab.h"
#include "storage/gguf.h"

namespace tandem {
namespace {

using gguf::Value;

// Writes the keys to GGUF bytes (no tensors) and loads the vocab from them.
class VocabFile {
 public:
  void add(std::string key, Value v) { w_.add(std::move(key), std::move(v)); }
  Result<Vocab> load() {
    Result<std::vector<std::byte>> bytes = w_.to_bytes({});
    if (!bytes.is_ok()) return bytes.error();
    bytes_ = std::move(bytes).value();
    Result<gguf::File> f = gguf::File::parse(bytes_, "vocab.gguf");
    if (!f.is_ok()) return f.error();
    return load_vocab(*f);
  }

 private:
  gguf::Writer w_;
  std::vector<std::byte> bytes_;
};

void spm_keys(VocabFile* f) {
  f->add("tokenizer.ggml.model", Value::str("llama"));
  f->add("tokenizer.ggml.tokens", Value::str_array({"<unk>", "<s>", "</s>", "hi", "\xE2\x96\x81hi"}));
  const std::vector<float> scores = {0, 0, 0, -1, -2};
  f->add("tokenizer.ggml.scores", Value::f32_array(scores));
  const std::vector<int32_t> types = {2, 3, 3, 1, 1};
  f->add("tokenizer.ggml.token_type", Value::i32_array(types));
}

void bpe_keys(VocabFile* f, const std::string& pre) {
  f->add("tokenizer.ggml.model", Value::str("gpt2"));
  if (!pre.empty()) f->add("tokenizer.ggml.pre", Value::str(pre));
  f->add("tokenizer.ggml.tokens", Value::str_array({"a", "b", "ab", "<|endoftext|>"}));
  f->add("tokenizer.ggml.merges", Value::str_array({"a b"}));
  f->add("tokenizer.ggml.bos_token_id", Value::u32(3));
  f->add("tokenizer.ggml.eos_token_id", Value::u32(3));
}

std::string load_error(VocabFile* f, Code* code = nullptr) {
  Result<Vocab> v = f->load();
  EXPECT_FALSE(v.is_ok());
  if (v.is_ok()) return "";
  if (code != nullptr) *code = v.error().code();
  return v.error().message();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(TokenizerVocabLoad, SpmDefaultsWhenKeysAreAbsent) {
  VocabFile f;
  spm_keys(&f);
  f.add("tokenizer.ggml.padding_token_id", Value::u32(0xFFFFFFFFu));  // "none"
  Result<Vocab> v = f.load();
  ASSERT_TRUE(v.is_ok()) << v.error().message();
  EXPECT_EQ(v->type, Vocab::Type::kSpm);
  EXPECT_EQ(v->bos, 1);
  EXPECT_EQ(v->eos, 2);
  EXPECT_EQ(v->unk, 0);
  EXPECT_EQ(v->pad, -1);
  EXPECT_TRUE(v->add_bos);
  EXPECT_FALSE(v->add_eos);
  EXPECT_TRUE(v->add_space_prefix);
  Result<Tokenizer> t = Tokenizer::create(std::move(v).value());
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(*t->encode("hi", true, false), (std::vector<int32_t>{1, 4}));  // <s> ▁hi
}

TEST(TokenizerVocabLoad, KeysOverrideDefaults) {
  VocabFile f;
  spm_keys(&f);
  f.add("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  f.add("tokenizer.ggml.add_bos_token", Value::boolean(false));
  f.add("tokenizer.ggml.eos_token_id", Value::u32(1));
  Result<Vocab> v = f.load();
  ASSERT_TRUE(v.is_ok()) << v.error().message();
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_FALSE(v->add_bos);
  EXPECT_EQ(v->eos, 1);
}

TEST(TokenizerVocabLoad, BpeAddBosDependsOnThePreTokenizer) {
  VocabFile llama3;
  bpe_keys(&llama3, "llama-bpe");
  Result<Vocab> a = llama3.load();
  ASSERT_TRUE(a.is_ok()) << a.error().message();
  EXPECT_TRUE(a->add_bos);
  EXPECT_EQ(a->merges, (std::vector<std::pair<std::string, std::string>>{{"a", "b"}}));

  VocabFile gpt2;
  bpe_keys(&gpt2, "gpt-2");
  Result<Vocab> b = gpt2.load();
  ASSERT_TRUE(b.is_ok()) << b.error().message();
  EXPECT_FALSE(b->add_bos);
  EXPECT_FALSE(b->add_space_prefix);

  VocabFile none;
  bpe_keys(&none, "");
  Result<Vocab> c = none.load();
  ASSERT_TRUE(c.is_ok()) << c.error().message();
  EXPECT_EQ(c->pre, "default");
}

TEST(TokenizerVocabLoad, Phi3SpecialTokensSwallowFollowingSpaces) {
  VocabFile f;
  f.add("general.name", Value::str("Phi3"));
  f.add("tokenizer.ggml.model", Value::str("llama"));
  f.add("tokenizer.ggml.tokens", Value::str_array({"<unk>", "<s>", "</s>", "<|end|>", "x"}));
  const std::vector<int32_t> types = {3, 3, 4, 3, 1};
  f.add("tokenizer.ggml.token_type", Value::i32_array(types));
  Result<Vocab> v = f.load();
  ASSERT_TRUE(v.is_ok()) << v.error().message();
  EXPECT_EQ(v->strip, (std::vector<uint8_t>{0, 0, Vocab::kRstrip, Vocab::kRstrip, 0}));
}

TEST(TokenizerVocabLoad, MissingOrUnsupportedModel) {
  VocabFile none;
  none.add("general.architecture", Value::str("llama"));
  Code code = Code::kOk;
  std::string msg = load_error(&none, &code);
  EXPECT_EQ(code, Code::kBadGguf);
  EXPECT_TRUE(contains(msg, "vocab.gguf")) << msg;
  EXPECT_TRUE(contains(msg, "tokenizer.ggml.model")) << msg;

  VocabFile bert;
  bert.add("tokenizer.ggml.model", Value::str("bert"));
  bert.add("tokenizer.ggml.tokens", Value::str_array({"a"}));
  msg = load_error(&bert, &code);
  EXPECT_EQ(code, Code::kUnsupported);
  EXPECT_TRUE(contains(msg, "'bert'")) << msg;
}

TEST(TokenizerVocabLoad, BadArraysNameTheKey) {
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("llama"));
    const std::string msg = load_error(&f);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.tokens")) << msg;
  }
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("llama"));
    f.add("tokenizer.ggml.tokens", Value::str_array({"a", "b", "c"}));
    const std::vector<float> scores = {0, 0};
    f.add("tokenizer.ggml.scores", Value::f32_array(scores));
    const std::string msg = load_error(&f);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.scores")) << msg;
    EXPECT_TRUE(contains(msg, "2 entries for 3 tokens")) << msg;
  }
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("llama"));
    f.add("tokenizer.ggml.tokens", Value::str_array({"a", "b", "c"}));
    f.add("tokenizer.ggml.token_type", Value::str_array({"1", "1", "1"}));
    Code code = Code::kOk;
    const std::string msg = load_error(&f, &code);
    EXPECT_EQ(code, Code::kBadGguf);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.token_type")) << msg;
  }
}

TEST(TokenizerVocabLoad, BadMergesAndPreTokenizer) {
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("gpt2"));
    f.add("tokenizer.ggml.tokens", Value::str_array({"a", "b"}));
    const std::string msg = load_error(&f);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.merges")) << msg;
  }
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("gpt2"));
    f.add("tokenizer.ggml.tokens", Value::str_array({"a", "b"}));
    f.add("tokenizer.ggml.merges", Value::str_array({"a b", "ab"}));
    const std::string msg = load_error(&f);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.merges[1]")) << msg;
    EXPECT_TRUE(contains(msg, "'ab'")) << msg;
  }
  {
    VocabFile f;
    bpe_keys(&f, "klingon");
    Code code = Code::kOk;
    const std::string msg = load_error(&f, &code);
    EXPECT_EQ(code, Code::kUnsupported);
    EXPECT_TRUE(contains(msg, "klingon")) << msg;
    EXPECT_TRUE(contains(msg, "vocab.gguf")) << msg;
  }
  {
    VocabFile f;
    f.add("tokenizer.ggml.model", Value::str("gpt2"));
    f.add("tokenizer.ggml.tokens", Value::str_array({"a", "b"}));
    f.add("tokenizer.ggml.merges", Value::str_array({"a b"}));
    f.add("tokenizer.ggml.bos_token_id", Value::str("1"));  // not an integer
    const std::string msg = load_error(&f);
    EXPECT_TRUE(contains(msg, "tokenizer.ggml.bos_token_id")) << msg;
  }
}

}  // namespace
}  // namespace tandem
