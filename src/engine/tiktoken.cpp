#include "engine/tiktoken.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "engine/byte_level.h"

namespace tandem {
namespace {

// RFC 4648 base64 (with '=' padding); false on any other character or a bad length.
bool base64_decode(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int n_pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++n_pad;
        continue;
      }
      if (n_pad > 0) return false;  // data after padding
      v[k] = value(c);
      if (v[k] < 0) return false;
    }
    const uint32_t bits = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out->push_back(static_cast<char>(bits >> 16));
    if (n_pad < 2) out->push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (n_pad < 1) out->push_back(static_cast<char>(bits & 0xFF));
  }
  return true;
}

std::vector<std::string> llama3_special_tokens() {
  std::vector<std::string> s = {
      "<|begin_of_text|>",
      "<|end_of_text|>",
      "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>",
      "<|reserved_special_token_2|>",
      "<|reserved_special_token_3|>",
      "<|start_header_id|>",
      "<|end_header_id|>",
      "<|reserved_special_token_4|>",
      "<|eot_id|>",
  };
  for (int i = 5; s.size() < static_cast<size_t>(kLlama3SpecialTokens); ++i) {
    s.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  }
  return s;
}

// Every split of every token into two tokens, by (rank of the token, rank of the left
// part, rank of the right part).
std::vector<std::pair<std::string, std::string>> rebuild_merges(
    const std::vector<std::string>& by_rank,
    const std::unordered_map<std::string_view, int32_t>& rank_of) {
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::tuple<int32_t, int32_t, size_t>> local;  // (rank left, rank right, split)
  for (const std::string& t : by_rank) {
    if (t.size() < 2) continue;
    local.clear();
    const std::string_view tv = t;
    for (size_t i = 1; i < t.size(); ++i) {
      auto l = rank_of.find(tv.substr(0, i));
      if (l == rank_of.end()) continue;
      auto r = rank_of.find(tv.substr(i));
      if (r == rank_of.end()) continue;
      local.emplace_back(l->second, r->second, i);
    }
    std::sort(local.begin(), local.end());
    for (const auto& [rl, rr, i] : local) {
      merges.emplace_back(byte_level::encode(tv.substr(0, i)), byte_level::encode(tv.substr(i)));
    }
  }
  return merges;
}

}  // namespace

Result<Vocab> parse_llama3_tiktoken(std::string_view contents, std::string_view name) {
  struct Line {
    std::string bytes;
    int64_t rank;
    size_t line_no;
  };
  std::vector<Line> lines;
  size_t line_no = 0;
  for (size_t pos = 0; pos < contents.size();) {
    size_t end = contents.find('\n', pos);
    if (end == std::string_view::npos) end = contents.size();
    std::string_view line = contents.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return Error(Code::kInvalidArgument) << name << ":" << line_no
                                           << ": expected '<base64 token> <rank>'";
    }
    Line l;
    l.line_no = line_no;
    if (!base64_decode(line.substr(0, space), &l.bytes)) {
      return Error(Code::kInvalidArgument) << name << ":" << line_no << ": '"
                                           << line.substr(0, space) << "' is not base64";
    }
    const std::string_view rank = line.substr(space + 1);
    if (rank.empty() || rank.size() > 9 ||
        !std::all_of(rank.begin(), rank.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Error(Code::kInvalidArgument) << name << ":" << line_no << ": rank '" << rank
                                           << "' is not a non-negative integer";
    }
    l.rank = std::stoll(std::string(rank));
    lines.push_back(std::move(l));
  }
  if (lines.empty()) return Error(Code::kInvalidArgument) << name << ": no tokens";

  // Ranks must be exactly 0..n-1: they become the token ids.
  const size_t n = lines.size();
  std::vector<std::string> by_rank(n);
  std::vector<size_t> seen_at(n, 0);
  for (Line& l : lines) {
    if (l.rank >= static_cast<int64_t>(n)) {
      return Error(Code::kInvalidArgument) << name << ":" << l.line_no << ": rank " << l.rank
                                           << " is not below the number of tokens (" << n << ")";
    }
    if (seen_at[l.rank] != 0) {
      return Error(Code::kInvalidArgument) << name << ":" << l.line_no << ": rank " << l.rank
                                           << " already given on line " << seen_at[l.rank];
    }
    seen_at[l.rank] = l.line_no;
    by_rank[l.rank] = std::move(l.bytes);
  }
  std::unordered_map<std::string_view, int32_t> rank_of;
  rank_of.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    auto [it, inserted] = rank_of.emplace(by_rank[r], static_cast<int32_t>(r));
    if (!inserted) {
      return Error(Code::kInvalidArgument) << name << ":" << seen_at[r] << ": token of rank " << r
                                           << " repeats the token of rank " << it->second;
    }
  }

  Vocab v;
  v.type = Vocab::Type::kBpe;
  v.pre = "llama-bpe";
  v.merges = rebuild_merges(by_rank, rank_of);
  v.tokens.reserve(n + kLlama3SpecialTokens);
  for (const std::string& t : by_rank) v.tokens.push_back(byte_level::encode(t));
  v.token_types.assign(n, static_cast<int32_t>(TokenType::kNormal));
  for (std::string& s : llama3_special_tokens()) {
    v.tokens.push_back(std::move(s));
    v.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  }
  const auto base = static_cast<int32_t>(n);
  v.bos = base + 0;
  v.eos = base + 1;
  v.eot = base + 9;
  v.add_bos = true;
  v.add_eos = false;
  v.add_space_prefix = false;
  TANDEM_TRY(validate_vocab(v));
  return v;
}

Result<Vocab> load_llama3_tiktoken(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return Error(errno == ENOENT ? Code::kNotFound : Code::kIo)
           << path << ": cannot open (" << std::strerror(errno) << ")";
  }
  std::ostringstream os;
  os << f.rdbuf();
  if (f.bad()) return Error(Code::kIo) << path << ": read failed";
  return parse_llama3_tiktoken(os.str(), path);
}

}  // namespace tandem
