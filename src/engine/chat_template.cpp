#include "engine/chat_template.h"

#include "core/check.h"

namespace tandem {
namespace {

// Python's str.strip() / Jinja's trim, for ASCII whitespace.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// ---- formats whose every message has a role header -------------------------------------

struct HeaderFormat {
  std::string_view before_role, after_role, after_content;
  bool trim_content;
  std::string_view generation_prompt;
};

HeaderFormat header_format(ChatFormat f) {
  switch (f) {
    case ChatFormat::kChatML:
      return {"<|im_start|>", "\n", "<|im_end|>\n", false, "<|im_start|>assistant\n"};
    case ChatFormat::kLlama3:
      return {"<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>", true,
              "<|start_header_id|>assistant<|end_header_id|>\n\n"};
    case ChatFormat::kPhi3:
      return {"<|", "|>\n", "<|end|>\n", false, "<|assistant|>\n"};
    case ChatFormat::kZephyr:
      return {"<|", "|>\n", "</s>\n", false, "<|assistant|>\n"};
    default:
      break;
  }
  TANDEM_CHECK(false) << "no header format for " << chat_format_name(f);
  return {};
}

std::string render_headers(const HeaderFormat& h, std::span<const ChatMessage> messages,
                           bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += h.before_role;
    out += m.role;
    out += h.after_role;
    out += h.trim_content ? trim(m.content) : std::string_view(m.content);
    out += h.after_content;
  }
  if (add_generation_prompt) out += h.generation_prompt;
  return out;
}

// ---- formats without a system role: system text is folded into the next user turn ---------

struct Turn {
  std::string_view role;    // "user" for user turns
  std::string system;       // folded system text (user turns only), "" if none
  std::string_view content;
};

std::vector<Turn> fold_system(std::span<const ChatMessage> messages) {
  std::vector<Turn> turns;
  std::string pending;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      if (!pending.empty()) pending += "\n\n";
      pending += m.content;
    } else if (m.role == "user") {
      turns.push_back(Turn{"user", std::move(pending), m.content});
      pending.clear();
    } else {
      turns.push_back(Turn{m.role, {}, m.content});
    }
  }
  if (!pending.empty()) turns.push_back(Turn{"user", std::move(pending), {}});
  return turns;
}

// <s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>, stripped as the official template does;
// the BOS that would start the text is the tokenizer's.
std::string render_llama2(std::span<const ChatMessage> messages) {
  std::string out;
  for (const Turn& t : fold_system(messages)) {
    if (t.role == "user") {
      std::string text;
      if (!t.system.empty()) text = "<<SYS>>\n" + t.system + "\n<</SYS>>\n\n";
      text += t.content;
      if (!out.empty()) out += "<s>";
      out += "[INST] ";
      out += trim(text);
      out += " [/INST]";
    } else {
      out += ' ';
      out += trim(t.content);
      out += " </s>";
    }
  }
  return out;
}

// Mistral-7B-Instruct v0.1/v0.2: [INST] U [/INST]A</s>, content as given.
std::string render_mistral(std::span<const ChatMessage> messages) {
  std::string out;
  for (const Turn& t : fold_system(messages)) {
    if (t.role == "user") {
      out += "[INST] ";
      if (!t.system.empty()) out += t.system + "\n\n";
      out += t.content;
      out += " [/INST]";
    } else {
      out += t.content;
      out += "</s>";
    }
  }
  return out;
}

std::string render_gemma(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const Turn& t : fold_system(messages)) {
    out += "<start_of_turn>";
    out += t.role == "assistant" ? std::string_view("model") : t.role;
    out += '\n';
    if (!t.system.empty()) {
      out += trim(t.system);
      out += "\n\n";
    }
    out += trim(t.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace

std::string_view chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::kLlama2: return "llama2";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kMistral: return "mistral";
    case ChatFormat::kPhi3: return "phi3";
    case ChatFormat::kZephyr: return "zephyr";
    case ChatFormat::kGemma: return "gemma";
  }
  TANDEM_CHECK(false) << "bad ChatFormat " << static_cast<int>(f);
  return {};
}

std::optional<ChatFormat> parse_chat_format(std::string_view name) {
  for (ChatFormat f : kAllChatFormats) {
    const std::string_view n = chat_format_name(f);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n.size() && same; ++i) same = ascii_lower(name[i]) == n[i];
    if (same) return f;
  }
  return std::nullopt;
}

std::optional<ChatFormat> detect_chat_format(std::string_view t) {
  if (auto f = parse_chat_format(trim(t))) return f;
  auto has = [t](std::string_view marker) { return contains(t, marker); };
  if (has("<|im_start|>")) {
    if (has("<|im_sep|>")) return std::nullopt;  // Phi-4: im_start without the newlines
    return ChatFormat::kChatML;
  }
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatFormat::kLlama3;
  if (has("[INST]")) {
    // Mistral v3/v7 (control tokens, other spacing) and the 2024 'v1' template (" [INST] ")
    // render other text than ours.
    if (has("[AVAILABLE_TOOLS]") || has("[SYSTEM_PROMPT]") || has("' [INST] '")) {
      return std::nullopt;
    }
    return has("<<SYS>>") ? ChatFormat::kLlama2 : ChatFormat::kMistral;
  }
  if (has("<|end|>") && (has("<|user|>") || has("<|assistant|>"))) return ChatFormat::kPhi3;
  if (has("<start_of_turn>")) return ChatFormat::kGemma;
  if (has("<|user|>") && has("<|assistant|>") && has("eos_token")) return ChatFormat::kZephyr;
  return std::nullopt;
}

std::string apply_chat_template(ChatFormat f, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) {
  switch (f) {
    case ChatFormat::kLlama2: return render_llama2(messages);
    case ChatFormat::kMistral: return render_mistral(messages);
    case ChatFormat::kGemma: return render_gemma(messages, add_generation_prompt);
    case ChatFormat::kLlama3:
    case ChatFormat::kChatML:
    case ChatFormat::kPhi3:
    case ChatFormat::kZephyr:
      return render_headers(header_format(f), messages, add_generation_prompt);
  }
  TANDEM_CHECK(false) << "bad ChatFormat " << static_cast<int>(f);
  return {};
}

std::vector<std::string> stop_strings(ChatFormat f) {
  switch (f) {
    case ChatFormat::kLlama2:
    case ChatFormat::kMistral:
    case ChatFormat::kZephyr: return {"</s>"};
    case ChatFormat::kLlama3: return {"<|eot_id|>"};
    case ChatFormat::kChatML: return {"<|im_end|>"};
    case ChatFormat::kPhi3: return {"<|end|>"};
    case ChatFormat::kGemma: return {"<end_of_turn>"};
  }
  TANDEM_CHECK(false) << "bad ChatFormat " << static_cast<int>(f);
  return {};
}

}  // namespace tandem
