// Helpers for the tokenizer tests: llama.cpp's .inp/.out test vectors, readable case
// text, and id-sequence comparison that names the first difference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::testing {

// Cases of a llama.cpp .inp file: each case is followed by "\n__ggml_vocab_test__\n"
// (so a case's own trailing newlines are kept, and the file ends with a separator).
inline std::vector<std::string> split_vocab_inp(const std::string& all) {
  static constexpr std::string_view kSep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  while (true) {
    const size_t found = all.find(kSep, pos);
    if (found == std::string::npos) break;
    cases.push_back(all.substr(pos, found - pos));
    pos = found + kSep.size();
  }
  return cases;
}

// One line of space-separated ids per case (lines may start with a space or be empty).
inline std::vector<std::vector<int32_t>> parse_vocab_out(const std::string& all) {
  std::vector<std::vector<int32_t>> out;
  std::istringstream lines(all);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ids(line);
    std::vector<int32_t> v;
    long long id = 0;
    while (ids >> id) v.push_back(static_cast<int32_t>(id));
    out.push_back(std::move(v));
  }
  return out;
}

// The text with \n, \t, \r, '"', '\\' and other control bytes escaped, quoted.
inline std::string printable(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') o += "\\n";
    else if (c == '\t') o += "\\t";
    else if (c == '\r') o += "\\r";
    else if (c == '"') o += "\\\"";
    else if (c == '\\') o += "\\\\";
    else if (u < 0x20 || u == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof(b), "\\x%02x", u);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

inline std::string join_ids(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return "[" + s + "]";
}

// "" when equal; otherwise where they first differ, and both sequences.
inline std::string id_diff(const std::vector<int32_t>& expected, const std::vector<int32_t>& got) {
  if (expected == got) return "";
  size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) ++i;
  std::ostringstream os;
  os << "first difference at position " << i << " (expected "
     << (i < expected.size() ? std::to_string(expected[i]) : "end") << ", got "
     << (i < got.size() ? std::to_string(got[i]) : "end") << "); expected " << join_ids(expected)
     << ", got " << join_ids(got);
  return os.str();
}

}  // namespace tandem::testing
