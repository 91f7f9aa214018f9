// C API: status names, the thread's last-error text, the version.
#include <string>
#include <thread>

#include "api_test_util.h"

namespace tandem_api_test {
namespace {

TEST(ApiStatus, EveryStatusHasItsName) {
  EXPECT_STREQ(tandem_status_string(TANDEM_OK), "TANDEM_OK");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_INVALID_ARGUMENT), "TANDEM_ERR_INVALID_ARGUMENT");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_NOT_FOUND), "TANDEM_ERR_NOT_FOUND");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_IO), "TANDEM_ERR_IO");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_BAD_MODEL), "TANDEM_ERR_BAD_MODEL");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_UNSUPPORTED), "TANDEM_ERR_UNSUPPORTED");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_OUT_OF_RANGE), "TANDEM_ERR_OUT_OF_RANGE");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_OUT_OF_MEMORY), "TANDEM_ERR_OUT_OF_MEMORY");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_INTERNAL), "TANDEM_ERR_INTERNAL");
  EXPECT_STREQ(tandem_status_string(TANDEM_ERR_BUFFER_TOO_SMALL), "TANDEM_ERR_BUFFER_TOO_SMALL");
  // A value outside the enum is checked in header_c_test.c: C may pass one, C++ may not.
}

TEST(ApiStatus, LastErrorIsSetByFailureAndClearedBySuccess) {
  REQUIRE_STORIES();
  ModelPtr model = load_stories();
  ASSERT_NE(model, nullptr);
  EXPECT_STREQ(tandem_last_error(), "");
  size_t n = 99;
  ASSERT_EQ(tandem_tokenize(model.get(), nullptr, 0, 5, 0, nullptr, 0, &n), TANDEM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tandem_last_error()).find("add_bos is 5"), std::string::npos) << tandem_last_error();
  // The empty text without BOS: no tokens, and success clears the text.
  EXPECT_EQ(tandem_tokenize(model.get(), nullptr, 0, 0, 0, nullptr, 0, &n), TANDEM_OK);
  EXPECT_EQ(n, 0u);
  EXPECT_STREQ(tandem_last_error(), "");
}

TEST(ApiStatus, LastErrorIsPerThread) {
  tandem_model* m = nullptr;
  ASSERT_EQ(tandem_model_load(nullptr, nullptr, &m), TANDEM_ERR_INVALID_ARGUMENT);
  const std::string mine = tandem_last_error();
  std::string other_before, other_after;
  std::thread t([&] {
    other_before = tandem_last_error();
    (void)tandem_model_load("x.gguf", nullptr, nullptr);
    other_after = tandem_last_error();
  });
  t.join();
  EXPECT_EQ(other_before, "");
  EXPECT_NE(other_after.find("out is NULL"), std::string::npos) << other_after;
  EXPECT_EQ(std::string(tandem_last_error()), mine);
}

TEST(ApiStatus, VersionMatchesHeader) {
  int major = -1, minor = -1, patch = -1;
  tandem_version(&major, &minor, &patch);
  EXPECT_EQ(major, TANDEM_VERSION_MAJOR);
  EXPECT_EQ(minor, TANDEM_VERSION_MINOR);
  EXPECT_EQ(patch, TANDEM_VERSION_PATCH);
  EXPECT_EQ(std::string(tandem_version_string()),
            std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch));
  tandem_version(nullptr, nullptr, nullptr);  // any pointer may be NULL
}

}  // namespace
}  // namespace tandem_api_test
