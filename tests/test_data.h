// Where tests find model and tokenizer files: $TANDEM_TEST_DATA, else ../shared.
#pragma once

#include <string>

namespace tandem::testing {

std::string test_data_dir();
// test_data_dir() + "/" + rel.
std::string test_data_path(const std::string& rel);
bool file_exists(const std::string& path);
// Reads a whole file; empty string if missing.
std::string read_file(const std::string& path);
// True when TANDEM_REQUIRE_TEST_DATA=1 (CI sets it): missing data is then a failure.
bool data_required();

}  // namespace tandem::testing

// Skips the current test when a data file is missing (the shared data is optional on a
// developer's machine), or fails it when the data is required.
#define TANDEM_REQUIRE_DATA(path)                                                       \
  do {                                                                                  \
    if (!::tandem::testing::file_exists(path)) {                                        \
      if (::tandem::testing::data_required()) FAIL() << "missing required " << (path);  \
      GTEST_SKIP() << "missing " << (path);                                             \
    }                                                                                   \
  } while (0)
