#include "gpu/byte_size.h"

#include <cctype>
#include <cstdio>

namespace tandem::gpu {
namespace {

Error bad_size(std::string_view text, std::string_view why) {
  return Error(Code::kInvalidArgument) << "bad size '" << text << "': " << why
                                       << " (examples: 16G, 512M, 1.5GiB, 1048576)";
}

// The multiplier of a suffix such as "G", "GB", "GiB", "g"; 0 when unknown.
uint64_t suffix_multiplier(std::string_view s) {
  if (s.empty()) return 1;
  if (s == "B" || s == "b") return 1;
  uint64_t m = 0;
  switch (std::toupper(static_cast<unsigned char>(s[0]))) {
    case 'K': m = uint64_t{1} << 10; break;
    case 'M': m = uint64_t{1} << 20; break;
    case 'G': m = uint64_t{1} << 30; break;
    case 'T': m = uint64_t{1} << 40; break;
    default: return 0;
  }
  const std::string_view rest = s.substr(1);
  if (rest.empty() || rest == "B" || rest == "b" || rest == "iB" || rest == "ib") return m;
  return 0;
}

}  // namespace

Result<uint64_t> parse_byte_size(std::string_view text) {
  size_t i = 0;
  unsigned __int128 mantissa = 0;  // all digits, the fraction's included
  unsigned __int128 divisor = 1;   // 10^(digits after the point)
  int digits = 0;
  const unsigned __int128 kLimit = static_cast<unsigned __int128>(1) << 80;  // times a 2^40 unit: no overflow
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
    if (mantissa > kLimit) return bad_size(text, "too large");
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
      if (divisor > kLimit / 10 || mantissa > kLimit / 10) continue;  // digits past ~30 change nothing
      mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
      divisor *= 10;
    }
  }
  if (digits == 0) return bad_size(text, "expected a number");
  const uint64_t mult = suffix_multiplier(text.substr(i));
  if (mult == 0) return bad_size(text, "unknown unit '" + std::string(text.substr(i)) + "'");
  const unsigned __int128 bytes = mantissa * mult / divisor;
  if (bytes > UINT64_MAX) return bad_size(text, "too large");
  return static_cast<uint64_t>(bytes);
}

std::string format_bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f %s", v, kUnits[u]);
  return buf;
}

}  // namespace tandem::gpu
