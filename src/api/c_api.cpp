// The C API's error plumbing (status names, the thread's last-error text) and version.
#include <string>

#include "api/api_internal.h"

// The header's version macros must say what CMake's project() says.
static_assert(TANDEM_VERSION_MAJOR == TANDEM_BUILD_VERSION_MAJOR &&
                  TANDEM_VERSION_MINOR == TANDEM_BUILD_VERSION_MINOR &&
                  TANDEM_VERSION_PATCH == TANDEM_BUILD_VERSION_PATCH,
              "include/tandem/tandem.h version macros differ from project(tandem VERSION ...)");

namespace tandem::api {
namespace {

// The last-error text is per thread by the API's contract (errno-like); it is the only
// mutable state the library keeps outside handles.
std::string& last_error_text() {
  thread_local std::string text;
  return text;
}

}  // namespace

tandem_status fail(tandem_status status, std::string message) {
  last_error_text() = std::move(message);
  return status;
}

tandem_status status_of(Code code) {
  switch (code) {
    case Code::kOk: return TANDEM_OK;
    case Code::kInvalidArgument: return TANDEM_ERR_INVALID_ARGUMENT;
    case Code::kNotFound: return TANDEM_ERR_NOT_FOUND;
    case Code::kIo: return TANDEM_ERR_IO;
    case Code::kBadGguf: return TANDEM_ERR_BAD_MODEL;
    case Code::kUnsupported: return TANDEM_ERR_UNSUPPORTED;
    case Code::kOutOfRange: return TANDEM_ERR_OUT_OF_RANGE;
    case Code::kOutOfMemory: return TANDEM_ERR_OUT_OF_MEMORY;
    case Code::kInternal: return TANDEM_ERR_INTERNAL;
  }
  return TANDEM_ERR_INTERNAL;
}

tandem_status fail(const Error& e) {
  const tandem_status s = status_of(e.code());
  // An Error whose code is kOk would read as success; it is our bug, so say so.
  if (s == TANDEM_OK) return fail(TANDEM_ERR_INTERNAL, "error with code OK: " + e.message());
  return fail(s, e.message());
}

tandem_status ok() {
  last_error_text().clear();
  return TANDEM_OK;
}

tandem_status fail_out_of_memory() {
  // Assigning a short literal into an existing string may itself need memory; keep the
  // old text if even that fails.
  try {
    return fail(TANDEM_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    return TANDEM_ERR_OUT_OF_MEMORY;
  }
}

tandem_status fail_internal(const char* what) {
  try {
    return fail(TANDEM_ERR_INTERNAL, std::string("internal error: ") + what);
  } catch (...) {
    return TANDEM_ERR_INTERNAL;
  }
}

bool token_in_vocab(const LoadedModel& m, tandem_token token) {
  return token >= 0 && token < m.tokenizer->n_vocab();
}

}  // namespace tandem::api

extern "C" {

const char* tandem_last_error(void) { return tandem::api::last_error_text().c_str(); }

const char* tandem_status_string(tandem_status status) {
  switch (tandem::api::raw_value(status)) {
    case TANDEM_OK: return "TANDEM_OK";
    case TANDEM_ERR_INVALID_ARGUMENT: return "TANDEM_ERR_INVALID_ARGUMENT";
    case TANDEM_ERR_NOT_FOUND: return "TANDEM_ERR_NOT_FOUND";
    case TANDEM_ERR_IO: return "TANDEM_ERR_IO";
    case TANDEM_ERR_BAD_MODEL: return "TANDEM_ERR_BAD_MODEL";
    case TANDEM_ERR_UNSUPPORTED: return "TANDEM_ERR_UNSUPPORTED";
    case TANDEM_ERR_OUT_OF_RANGE: return "TANDEM_ERR_OUT_OF_RANGE";
    case TANDEM_ERR_OUT_OF_MEMORY: return "TANDEM_ERR_OUT_OF_MEMORY";
    case TANDEM_ERR_INTERNAL: return "TANDEM_ERR_INTERNAL";
    case TANDEM_ERR_BUFFER_TOO_SMALL: return "TANDEM_ERR_BUFFER_TOO_SMALL";
  }
  return "unknown status";
}

void tandem_version(int* major, int* minor, int* patch) {
  if (major != nullptr) *major = TANDEM_BUILD_VERSION_MAJOR;
  if (minor != nullptr) *minor = TANDEM_BUILD_VERSION_MINOR;
  if (patch != nullptr) *patch = TANDEM_BUILD_VERSION_PATCH;
}

const char* tandem_version_string(void) { return TANDEM_BUILD_VERSION_STRING; }

}  // extern "C"
