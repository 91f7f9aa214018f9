#include "test_data.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace tandem::testing {

std::string test_data_dir() {
  const char* env = std::getenv("TANDEM_TEST_DATA");
  if (env != nullptr && env[0] != '\0') return env;
  return TANDEM_TEST_DATA_DEFAULT;
}

bool data_required() {
  const char* env = std::getenv("TANDEM_REQUIRE_TEST_DATA");
  return env != nullptr && std::string(env) == "1";
}

std::string test_data_path(const std::string& rel) { return test_data_dir() + "/" + rel; }

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace tandem::testing
