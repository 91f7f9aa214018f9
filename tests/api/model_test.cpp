// C API: loading models, their facts, and the error paths of loading.
#include <cstdio>
#include <fstream>
#include <string>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

TEST(ApiModel, LoadsStories260K) {
  REQUIRE_STORIES();
  ModelPtr m = load_stories();
  ASSERT_NE(m, nullptr);
  EXPECT_STREQ(tandem_last_error(), "");
  // shared/models/README.md: llama, 5 layers, dim 64, SPM 512 vocab; golden bos 1, eos 2.
  EXPECT_EQ(tandem_model_n_vocab(m.get()), 512);
  EXPECT_EQ(tandem_model_n_layer(m.get()), 5);
  EXPECT_EQ(tandem_model_n_embd(m.get()), 64);
  EXPECT_GT(tandem_model_n_ctx_train(m.get()), 0);
  EXPECT_STREQ(tandem_model_arch(m.get()), "llama");
  EXPECT_EQ(tandem_model_bos(m.get()), 1);
  EXPECT_EQ(tandem_model_eos(m.get()), 2);
  EXPECT_EQ(tandem_model_add_bos(m.get()), 1);
  EXPECT_EQ(tandem_token_is_eog(m.get(), 2), 1);
  EXPECT_EQ(tandem_token_is_eog(m.get(), 403), 0);
  EXPECT_EQ(tandem_token_is_eog(m.get(), 512), 0);
  EXPECT_EQ(tandem_token_is_eog(m.get(), -1), 0);
  // F32 weights: at least the token embedding, 512 x 64 floats.
  EXPECT_GE(tandem_model_weight_bytes(m.get()), uint64_t{512 * 64 * 4});
}

TEST(ApiModel, QueriesOnNullModel) {
  EXPECT_EQ(tandem_model_n_vocab(nullptr), -1);
  EXPECT_EQ(tandem_model_n_ctx_train(nullptr), -1);
  EXPECT_EQ(tandem_model_n_embd(nullptr), -1);
  EXPECT_EQ(tandem_model_n_layer(nullptr), -1);
  EXPECT_EQ(tandem_model_weight_bytes(nullptr), 0u);
  EXPECT_STREQ(tandem_model_arch(nullptr), "");
  EXPECT_STREQ(tandem_model_name(nullptr), "");
  EXPECT_EQ(tandem_model_bos(nullptr), -1);
  EXPECT_EQ(tandem_model_eos(nullptr), -1);
  EXPECT_EQ(tandem_model_eot(nullptr), -1);
  EXPECT_EQ(tandem_model_add_bos(nullptr), 0);
  EXPECT_EQ(tandem_token_is_eog(nullptr, 2), 0);
  tandem_model_free(nullptr);  // does nothing
}

TEST(ApiModel, MissingFileIsNotFoundAndNamesThePath) {
  const std::string path = ::testing::TempDir() + "tandem_api_no_such_model.gguf";
  std::remove(path.c_str());
  tandem_model* m = reinterpret_cast<tandem_model*>(0x1);  // must be reset to NULL
  EXPECT_EQ(tandem_model_load(path.c_str(), nullptr, &m), TANDEM_ERR_NOT_FOUND);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(tandem_last_error()).find(path), std::string::npos) << tandem_last_error();
}

TEST(ApiModel, DirectoryIsAnIoError) {
  const std::string dir = ::testing::TempDir();
  tandem_model* m = nullptr;
  EXPECT_EQ(tandem_model_load(dir.c_str(), nullptr, &m), TANDEM_ERR_IO);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(tandem_last_error()).find(dir), std::string::npos) << tandem_last_error();
}

TEST(ApiModel, NotAGgufFileIsBadModel) {
  const std::string path = ::testing::TempDir() + "tandem_api_not_a_model.gguf";
  {
    std::ofstream f(path, std::ios::binary);
    f << "this is not a GGUF file, just some text that is long enough to have a header";
  }
  tandem_model* m = nullptr;
  EXPECT_EQ(tandem_model_load(path.c_str(), nullptr, &m), TANDEM_ERR_BAD_MODEL);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(tandem_last_error()).find(path), std::string::npos) << tandem_last_error();
  std::remove(path.c_str());
}

TEST(ApiModel, NullArgumentsAreInvalid) {
  tandem_model* m = nullptr;
  EXPECT_EQ(tandem_model_load(nullptr, nullptr, &m), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(tandem_last_error()).find("path is NULL"), std::string::npos) << tandem_last_error();
  EXPECT_EQ(tandem_model_load("x.gguf", nullptr, nullptr), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("out is NULL"), std::string::npos) << tandem_last_error();
}

}  // namespace
}  // namespace tandem_api_test
