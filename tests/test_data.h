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

}  // namespace tandem::testing

// Skips the current test when a data file is missing (the shared data is optional).
#define TANDEM_REQUIRE_DATA(path)                                              \
  do {                                                                         \
    if (!::tandem::testing::file_exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)
