#include "engine/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <utility>

#include "engine/utf8.h"

namespace tandem {
namespace {

// ---- The regex families (facts from llama.cpp's llm_tokenizer_bpe and the models'
// tokenizer.json files). `(?i:'s|...)` is spelled out as '[sS]... as llama.cpp does, so
// that Unicode case folding (U+017F for 's') does not widen it.

constexpr const char* kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

constexpr const char* kContractions = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";

// Shared tail of the llama3 / qwen2 regexes after the number part.
constexpr const char* kLlama3Tail = R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// DeepSeek LLM's letter class: the cased letters of its tokenizer.json, as codepoints.
constexpr const char* kDeepseekLetters =
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}"
    "\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}"
    "\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}"
    "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}"
    "\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}"
    "\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}"
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}"
    "\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"
    "\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
    "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}";

// CJK ideographs 4E00..9FA5, 0800..4E00, Hangul AC00..D7FF.
constexpr const char* kDeepseekCjk = "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

constexpr const char* kPoroWords = "\\ ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+";

std::vector<std::string> patterns_for(std::string_view kind) {
  const std::string contractions = kContractions;
  if (kind == "gpt2") return {kGpt2};
  if (kind == "llama3") {
    return {contractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})" + kLlama3Tail};
  }
  if (kind == "qwen2") {
    return {contractions + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})" + kLlama3Tail};
  }
  if (kind == "deepseek-llm") {
    return {"[\\r\\n]",
            std::string("\\s?[") + kDeepseekLetters + "]+",
            "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
            "\\s+$",
            kDeepseekCjk,
            "\\p{N}+"};
  }
  if (kind == "deepseek-coder") {
    return {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kDeepseekCjk, "\\p{N}"};
  }
  if (kind == "deepseek-v3") {
    return {"\\p{N}{1,3}",
            "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
            R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
  }
  if (kind == "falcon") return {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
  if (kind == "starcoder") return {"\\p{N}", kGpt2};
  if (kind == "poro") return {kPoroWords};
  if (kind == "viking") return {kPoroWords, "\\p{N}"};
  // "default": llama.cpp's fallback for BPE vocabularies without a known pre-tokenizer.
  return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
}

struct NameMap {
  const char* name;
  const char* kind;
  bool ignore_merges;
  bool add_bos;
};

// tokenizer.ggml.pre values -> regex family and llama.cpp's per-pre defaults.
constexpr std::array<NameMap, 44> kNames = {{
    {"default", "default", false, false},
    {"llama3", "llama3", true, true},
    {"llama-v3", "llama3", true, true},
    {"llama-bpe", "llama3", true, true},
    {"falcon3", "llama3", true, true},
    {"falcon-h1", "llama3", true, true},
    {"pixtral", "llama3", true, true},
    {"midm-2.0", "llama3", true, true},
    {"lfm2", "llama3", true, true},
    {"dbrx", "llama3", false, false},
    {"smaug-bpe", "llama3", false, false},
    {"deepseek-llm", "deepseek-llm", false, false},
    {"deepseek-coder", "deepseek-coder", false, false},
    {"deepseek-v3", "deepseek-v3", false, false},
    {"falcon", "falcon", false, false},
    {"gpt-2", "gpt2", false, false},
    {"phi-2", "gpt2", false, false},
    {"mpt", "gpt2", false, false},
    {"olmo", "gpt2", false, false},
    {"jais", "gpt2", false, false},
    {"gigachat", "gpt2", false, false},
    {"jina-es", "gpt2", false, false},
    {"jina-de", "gpt2", false, false},
    {"jina-v1-en", "gpt2", false, false},
    {"jina-v2-es", "gpt2", false, false},
    {"jina-v2-de", "gpt2", false, false},
    {"jina-v2-code", "gpt2", false, false},
    {"roberta-bpe", "gpt2", false, false},
    {"exaone4", "gpt2", false, false},
    {"starcoder", "starcoder", false, false},
    {"refact", "starcoder", false, false},
    {"command-r", "starcoder", false, false},
    {"smollm", "starcoder", false, false},
    {"codeshell", "starcoder", false, false},
    {"exaone", "starcoder", false, false},
    {"minerva-7b", "starcoder", false, false},
    {"qwen2", "qwen2", false, false},
    {"deepseek-r1-qwen", "qwen2", false, false},
    {"stablelm2", "qwen2", false, false},
    {"megrez", "qwen2", false, false},
    {"hunyuan", "qwen2", false, false},
    {"poro-chat", "poro", false, false},
    {"bloom", "poro", false, false},
    {"viking", "viking", false, false},
}};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};
using MatchData = std::unique_ptr<pcre2_match_data, MatchDataDeleter>;

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  std::string pattern;
  ~Regex() { pcre2_code_free(code); }

  // Appends the words of `word` to *out: the matches and the gaps between them.
  Status split_into(std::string_view word, size_t word_offset, pcre2_match_data* md,
                    std::vector<std::string_view>* out) const;
};

Status PreTokenizer::Regex::split_into(std::string_view word, size_t word_offset,
                                       pcre2_match_data* md,
                                       std::vector<std::string_view>* out) const {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(word.data());
  size_t start = 0;     // where the next search begins
  size_t emitted = 0;   // end of the last word appended
  while (start < word.size()) {
    int rc = pcre2_match(code, subject, word.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // deep backtracking: the interpreter has more room
      rc = pcre2_match(code, subject, word.size(), start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return Error(Code::kInternal) << "pre-tokenizer regex /" << pattern << "/ failed at byte "
                                    << word_offset + start << ": " << pcre2_message(rc);
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t m0 = ov[0];
    const size_t m1 = ov[1];
    if (m1 <= m0) {  // empty match: no word; step over one character
      if (m0 >= word.size()) break;
      start = m0 + utf8::lead_length(static_cast<uint8_t>(word[m0]));
      continue;
    }
    if (m0 > emitted) out->push_back(word.substr(emitted, m0 - emitted));
    out->push_back(word.substr(m0, m1 - m0));
    emitted = m1;
    start = m1;
  }
  if (emitted < word.size()) out->push_back(word.substr(emitted));
  return Status::ok();
}

Result<PreTokenizerSpec> find_pre_tokenizer(std::string_view pre) {
  if (pre.empty()) pre = "default";
  for (const NameMap& m : kNames) {
    if (pre == m.name) return PreTokenizerSpec{m.kind, m.ignore_merges, m.add_bos};
  }
  return Error(Code::kUnsupported) << "unknown BPE pre-tokenizer '" << pre
                                   << "' (tokenizer.ggml.pre); known: llama-bpe, qwen2, gpt-2, "
                                      "deepseek-llm, deepseek-coder, falcon, starcoder, default, ...";
}

Result<PreTokenizer> PreTokenizer::create(std::string_view pre) {
  TANDEM_ASSIGN_OR_RETURN(PreTokenizerSpec spec, find_pre_tokenizer(pre));
  return from_patterns(patterns_for(spec.kind));
}

Result<PreTokenizer> PreTokenizer::from_patterns(const std::vector<std::string>& patterns) {
  PreTokenizer p;
  for (const std::string& pattern : patterns) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err,
                                     &err_offset, nullptr);
    if (code == nullptr) {
      return Error(Code::kInvalidArgument) << "pre-tokenizer regex /" << pattern
                                           << "/ does not compile at offset " << err_offset
                                           << ": " << pcre2_message(err);
    }
    auto re = std::make_unique<Regex>();
    re->code = code;
    re->pattern = pattern;
    // JIT is an optimisation only: without it (or if it fails) pcre2_match interprets.
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    p.regexes_.push_back(std::move(re));
  }
  return p;
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

Result<std::vector<std::string_view>> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> words;
  if (text.empty()) return words;
  words.push_back(text);
  std::vector<std::string_view> next;
  for (const auto& re : regexes_) {
    MatchData md(pcre2_match_data_create_from_pattern(re->code, nullptr));
    if (!md) return Error(Code::kOutOfMemory) << "pre-tokenizer: cannot allocate PCRE2 match data";
    next.clear();
    for (std::string_view w : words) {
      TANDEM_TRY(re->split_into(w, static_cast<size_t>(w.data() - text.data()), md.get(), &next));
    }
    words.swap(next);
  }
  return words;
}

}  // namespace tandem
