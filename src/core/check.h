// Broken invariants (our bugs, not the user's) abort with file:line and a message.
#pragma once

#include <sstream>
#include <string>

namespace tandem::detail {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  std::ostringstream os_;
};

}  // namespace tandem::detail

#define TANDEM_CHECK(cond) \
  if (cond) {              \
  } else                   \
    ::tandem::detail::CheckFailure(__FILE__, __LINE__, #cond)
