// Chat templates: the prompt text of a conversation for the common chat formats, found
// from the GGUF `tokenizer.chat_template` string by characteristic markers (as llama.cpp's
// llm_chat_detect_template does; there is no Jinja interpreter here) or named by a flag.
//
// What the text contains (the contract with the tokenizer):
// - Never a leading BOS. The tokenizer adds BOS to the start of the prompt iff the vocab
//   says so, as for every prompt; the official templates' leading `bos_token` ("<s>",
//   "<|begin_of_text|>", "<bos>") is therefore left out, as llama.cpp's
//   llama_chat_apply_template leaves it out.
// - Every other control text the official template writes, in place: "<|eot_id|>",
//   "<|im_end|>", Llama-2's "</s>" after each answer and "<s>" before each later "[INST]".
//   The text must be tokenized with special-token parsing on.
//
// Per format (S = system, U = user, A = assistant content; "|x" = x trimmed of ASCII
// whitespace at both ends; G = the generation prompt, added iff add_generation_prompt):
//   llama2  "[INST] |(<<SYS>>\nS\n<</SYS>>\n\nU) [/INST] |A </s><s>[INST] |U [/INST]" (no G:
//           "[/INST]" already opens the answer). The official meta-llama/Llama-2-*-chat
//           template; llama.cpp's "llama2-sys" writes "[/INST]A</s>[INST]" instead (no
//           spaces, no "<s>"): we follow the official one.
//   mistral "[INST] S\n\nU [/INST]A</s>[INST] U [/INST]" (Mistral-7B-Instruct v0.1/v0.2; it has
//           no system role: S goes before the first user text, as llama.cpp does; no G).
//   llama3  "<|start_header_id|>role<|end_header_id|>\n\n|content<|eot_id|>" per message;
//           G = "<|start_header_id|>assistant<|end_header_id|>\n\n". (Llama-3-Instruct;
//           Llama-3.1's template also writes a "Cutting Knowledge Date" system header,
//           which is not added.)
//   chatml  "<|im_start|>role\ncontent<|im_end|>\n" per message; G = "<|im_start|>assistant\n".
//   phi3    "<|role|>\ncontent<|end|>\n" per message; G = "<|assistant|>\n" (as llama.cpp and the
//           Phi-3-vision template; Phi-3-mini's own template drops system messages, and
//           Phi-3-small's writes EOS when no G is asked).
//   zephyr  "<|role|>\ncontent</s>\n" per message; G = "<|assistant|>\n" (HuggingFaceH4/zephyr-7b).
//   gemma   "<start_of_turn>role\n|content<end_of_turn>\n", role "model" for the assistant;
//           no system role: |S + "\n\n" goes before the first user text (as llama.cpp);
//           G = "<start_of_turn>model\n".
// Formats with a role header (llama3, chatml, phi3, zephyr) write any role verbatim. In the
// others, "system" is folded into the next user message (system messages with no user
// message after them are written as if one followed with empty text; several are joined
// with "\n\n"), "user" is the user, and any other role is written as the assistant
// (gemma writes it verbatim in its turn header, and "model" for "assistant").
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

enum class ChatFormat { kLlama2, kLlama3, kChatML, kMistral, kPhi3, kZephyr, kGemma };

inline constexpr ChatFormat kAllChatFormats[] = {
    ChatFormat::kLlama2, ChatFormat::kLlama3, ChatFormat::kChatML, ChatFormat::kMistral,
    ChatFormat::kPhi3,   ChatFormat::kZephyr, ChatFormat::kGemma,
};

// The flag name: "llama2", "llama3", "chatml", "mistral", "phi3", "zephyr", "gemma".
std::string_view chat_format_name(ChatFormat f);

// From a flag value; ASCII case-insensitive. nullopt for an unknown name (list the valid
// ones from kAllChatFormats and chat_format_name in the error).
std::optional<ChatFormat> parse_chat_format(std::string_view name);

// From a GGUF `tokenizer.chat_template` (a Jinja template), or a bare format name.
// nullopt when no format matches, including formats that look alike but render different
// text (Mistral v3/v7 with "[AVAILABLE_TOOLS]"/"[SYSTEM_PROMPT]", Phi-4's "<|im_sep|>").
std::optional<ChatFormat> detect_chat_format(std::string_view jinja_template);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (others: see above)
  std::string content;
};

// The prompt text of `messages` in format f; see the top of this file.
std::string apply_chat_template(ChatFormat f, std::span<const ChatMessage> messages,
                                bool add_generation_prompt);

// Text that ends an assistant turn in format f ("<|eot_id|>", "<|im_end|>", "<|end|>",
// "</s>", "<end_of_turn>"): the chat loop stops generating when the output reaches one
// (besides the vocab's end-of-generation tokens) and does not show it.
std::vector<std::string> stop_strings(ChatFormat f);

}  // namespace tandem
