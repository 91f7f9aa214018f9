// The acceptance check: llama.cpp's tokenizer test vectors. For every
// ggml-vocab-*.gguf.inp/.out pair, the cases tokenized without BOS and with
// parse_special=false must give exactly the ids of the .out file. The llama-bpe pair
// has no GGUF beside it: its vocab is built from Llama 3's tiktoken tokenizer.model.
#include <gtest/gtest.h>

#include <algorithm>
#include <dirent.h>
#include <string>
#include <vector>

#include "engine/tiktoken.h"
#include "engine/tokenizer.h"
#include "engine/vocab.h"
#include "storage/gguf.h"
#include "test_data.h"
#include "tokenizer_test_util.h"

namespace tandem {
namespace {

const char* kVocabDir = "models/tokenizers/llama.cpp-vocab";

std::vector<std::string> vocab_test_files() {
  std::vector<std::string> names;
  const std::string dir = testing::test_data_path(kVocabDir);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    const std::string suffix = ".gguf.inp";
    if (n.rfind("ggml-vocab-", 0) == 0 && n.size() > suffix.size() &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(n.substr(0, n.size() - 4));  // "ggml-vocab-x.gguf"
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// Runs every case of `name`.inp/.out through `tok`; prints and checks the pass count.
void run_vector_file(const Tokenizer& tok, const std::string& name) {
  const std::string base = testing::test_data_path(std::string(kVocabDir) + "/" + name);
  const std::vector<std::string> cases = testing::split_vocab_inp(testing::read_file(base + ".inp"));
  const std::vector<std::vector<int32_t>> expected =
      testing::parse_vocab_out(testing::read_file(base + ".out"));
  ASSERT_FALSE(cases.empty()) << name << ".inp has no cases";
  ASSERT_EQ(cases.size(), expected.size()) << name << ": .inp and .out disagree on the case count";
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    Result<std::vector<int32_t>> got = tok.encode(cases[i], /*add_bos=*/false, /*parse_special=*/false);
    if (!got.is_ok()) {
      ADD_FAILURE() << name << " case " << i << " " << testing::printable(cases[i]) << ": "
                    << got.error().message();
      continue;
    }
    const std::string diff = testing::id_diff(expected[i], *got);
    if (diff.empty()) {
      ++passed;
    } else {
      ADD_FAILURE() << name << " case " << i << " " << testing::printable(cases[i]) << ": " << diff;
    }
  }
  std::printf("[ vectors  ] %s: %zu/%zu cases passed\n", name.c_str(), passed, cases.size());
  EXPECT_EQ(passed, cases.size()) << name;
}

TEST(TokenizerVocabFiles, LlamaCppVectorsPass) {
  const std::vector<std::string> files = vocab_test_files();
  if (files.empty()) {
    if (testing::data_required()) FAIL() << "required test data is missing";
    GTEST_SKIP() << "no test vectors under " << testing::test_data_path(kVocabDir);
  }
  int with_gguf = 0;
  for (const std::string& name : files) {
    const std::string gguf_path = testing::test_data_path(std::string(kVocabDir) + "/" + name);
    if (!testing::file_exists(gguf_path)) continue;  // llama-bpe: see the test below
    SCOPED_TRACE(name);
    Result<gguf::File> f = gguf::File::open(gguf_path);
    ASSERT_TRUE(f.is_ok()) << f.error().message();
    Result<Vocab> v = load_vocab(*f);
    ASSERT_TRUE(v.is_ok()) << v.error().message();
    Result<Tokenizer> tok = Tokenizer::create(std::move(v).value());
    ASSERT_TRUE(tok.is_ok()) << tok.error().message();
    run_vector_file(*tok, name);
    ++with_gguf;
  }
  EXPECT_GE(with_gguf, 6) << "expected the six llama.cpp vocab files with vectors";
}

TEST(TokenizerVocabFiles, LlamaBpeVectorsPassWithTiktokenVocab) {
  const std::string model = testing::test_data_path("models/tokenizers/llama3/tokenizer.model");
  TANDEM_REQUIRE_DATA(model);
  TANDEM_REQUIRE_DATA(testing::test_data_path(std::string(kVocabDir) + "/ggml-vocab-llama-bpe.gguf.inp"));
  Result<Vocab> v = load_llama3_tiktoken(model);
  ASSERT_TRUE(v.is_ok()) << v.error().message();
  Result<Tokenizer> tok = Tokenizer::create(std::move(v).value());
  ASSERT_TRUE(tok.is_ok()) << tok.error().message();
  run_vector_file(*tok, "ggml-vocab-llama-bpe.gguf");
}

}  // namespace
}  // namespace tandem
