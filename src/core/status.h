// Errors as values: Error carries a code and a message that says what and where;
// Result<T> holds either a value or an Error. No exceptions cross our interfaces.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace tandem {

enum class Code : int {
  kOk = 0,
  kInvalidArgument = 1,  // a bad flag, prompt or parameter from the caller
  kNotFound = 2,         // a missing file, key or tensor
  kIo = 3,               // the OS refused a read, write or map
  kBadGguf = 4,          // a malformed or inconsistent GGUF file
  kUnsupported = 5,      // valid input Tandem does not handle (yet)
  kOutOfRange = 6,       // a size or index past its limit (context full, ...)
  kOutOfMemory = 7,
  kInternal = 8,         // our bug
};

const char* code_name(Code c);

class Error {
 public:
  explicit Error(Code code, std::string message = {}) : code_(code), message_(std::move(message)) {}

  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Appends to the message: Error(Code::kBadGguf) << path << ": bad magic".
  template <typename T>
  Error&& operator<<(const T& v) && {
    std::ostringstream os;
    os << v;
    message_ += os.str();
    return std::move(*this);
  }
  template <typename T>
  Error& operator<<(const T& v) & {
    std::ostringstream os;
    os << v;
    message_ += os.str();
    return *this;
  }

 private:
  Code code_;
  std::string message_;
};

// Status: success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)) {}  // NOLINT: implicit from Error by design
  static Status ok() { return {}; }

  bool is_ok() const { return !err_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Error& error() const { return *err_; }

 private:
  std::optional<Error> err_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}        // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}    // NOLINT
  Result(Status s) : v_(s.error()) {}      // only from a failed Status

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<Error>(v_); }
  Status status() const { return is_ok() ? Status::ok() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace tandem

// Propagates a failed Status/Result out of the current function.
#define TANDEM_TRY(expr)                                   \
  do {                                                     \
    auto&& tandem_try_ = (expr);                           \
    if (!tandem_try_.is_ok()) return tandem_try_.error();  \
  } while (0)

#define TANDEM_CONCAT_INNER_(a, b) a##b
#define TANDEM_CONCAT_(a, b) TANDEM_CONCAT_INNER_(a, b)
// TANDEM_ASSIGN_OR_RETURN(auto x, make_x()); declares x from a Result or returns its error.
#define TANDEM_ASSIGN_OR_RETURN(decl, expr)                                    \
  auto TANDEM_CONCAT_(tandem_r_, __LINE__) = (expr);                           \
  if (!TANDEM_CONCAT_(tandem_r_, __LINE__).is_ok())                            \
    return TANDEM_CONCAT_(tandem_r_, __LINE__).error();                        \
  decl = std::move(TANDEM_CONCAT_(tandem_r_, __LINE__)).value()
