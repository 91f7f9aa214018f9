#include "engine/chat_template.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/gguf.h"
#include "test_data.h"

namespace tandem {
namespace {

// The expected strings below are what the official Jinja templates (the ones in the
// detection tests further down) render with Hugging Face's settings (trim_blocks,
// lstrip_blocks; bos_token "<s>", eos_token "</s>"), less the leading BOS, checked with
// jinja2 3.1. Mistral and Gemma templates reject a system message; their system folding
// follows llama.cpp (llama-chat.cpp).
const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "  Hi there  "},  // surrounding spaces: shows which formats trim
    {"user", "Who are you?"},
};

struct Expected {
  ChatFormat format;
  std::string with_prompt;     // add_generation_prompt = true
  std::string without_prompt;  // add_generation_prompt = false
};

std::vector<Expected> expected_conversations() {
  const std::string llama2 =
      "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
      "<s>[INST] Who are you? [/INST]";
  const std::string mistral =
      "[INST] You are a helpful assistant\n\nHello [/INST]  Hi there  </s>"
      "[INST] Who are you? [/INST]";
  const std::string llama3 =
      "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>";
  const std::string chatml =
      "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
      "<|im_start|>user\nHello<|im_end|>\n"
      "<|im_start|>assistant\n  Hi there  <|im_end|>\n"
      "<|im_start|>user\nWho are you?<|im_end|>\n";
  const std::string phi3 =
      "<|system|>\nYou are a helpful assistant<|end|>\n"
      "<|user|>\nHello<|end|>\n"
      "<|assistant|>\n  Hi there  <|end|>\n"
      "<|user|>\nWho are you?<|end|>\n";
  const std::string zephyr =
      "<|system|>\nYou are a helpful assistant</s>\n"
      "<|user|>\nHello</s>\n"
      "<|assistant|>\n  Hi there  </s>\n"
      "<|user|>\nWho are you?</s>\n";
  const std::string gemma =
      "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n"
      "<start_of_turn>model\nHi there<end_of_turn>\n"
      "<start_of_turn>user\nWho are you?<end_of_turn>\n";
  return {
      {ChatFormat::kLlama2, llama2, llama2},  // "[/INST]" is the prompt: no G
      {ChatFormat::kMistral, mistral, mistral},
      {ChatFormat::kLlama3, llama3 + "<|start_header_id|>assistant<|end_header_id|>\n\n", llama3},
      {ChatFormat::kChatML, chatml + "<|im_start|>assistant\n", chatml},
      {ChatFormat::kPhi3, phi3 + "<|assistant|>\n", phi3},
      {ChatFormat::kZephyr, zephyr + "<|assistant|>\n", zephyr},
      {ChatFormat::kGemma, gemma + "<start_of_turn>model\n", gemma},
  };
}

TEST(ChatTemplate, SystemUserAssistantUserPerFormat) {
  const auto all = expected_conversations();
  ASSERT_EQ(all.size(), std::size(kAllChatFormats));
  for (const Expected& e : all) {
    const std::string_view name = chat_format_name(e.format);
    EXPECT_EQ(apply_chat_template(e.format, kConversation, true), e.with_prompt) << name;
    EXPECT_EQ(apply_chat_template(e.format, kConversation, false), e.without_prompt) << name;
  }
}

TEST(ChatTemplate, NoSystemMessage) {
  const std::vector<ChatMessage> chat = {{"user", " Hi "}, {"assistant", "Yo"}, {"user", "Q"}};
  // Official Llama-2: strip() on user text; BOS before every later [INST].
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, chat, true),
            "[INST] Hi [/INST] Yo </s><s>[INST] Q [/INST]");
  // Official Mistral v0.1: content as given.
  EXPECT_EQ(apply_chat_template(ChatFormat::kMistral, chat, true),
            "[INST]  Hi  [/INST]Yo</s>[INST] Q [/INST]");
  EXPECT_EQ(apply_chat_template(ChatFormat::kGemma, chat, false),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n"
            "<start_of_turn>user\nQ<end_of_turn>\n");
}

TEST(ChatTemplate, EndsWithAssistantTurn) {
  const std::vector<ChatMessage> chat = {{"user", "Hello"}, {"assistant", "Hi"}};
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, chat, false), "[INST] Hello [/INST] Hi </s>");
  EXPECT_EQ(apply_chat_template(ChatFormat::kMistral, chat, false), "[INST] Hello [/INST]Hi</s>");
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama3, chat, false),
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplate, ASecondRenderExtendsTheFirst) {
  // The chat loop feeds only the new text of each turn: the rendering of a conversation
  // without the generation prompt must be a prefix of the rendering of a longer one.
  std::vector<ChatMessage> chat(kConversation.begin(), kConversation.begin() + 3);
  std::vector<ChatMessage> longer = kConversation;
  longer.push_back({"assistant", "An assistant."});
  for (ChatFormat f : kAllChatFormats) {
    const std::string a = apply_chat_template(f, chat, false);
    const std::string b = apply_chat_template(f, longer, false);
    EXPECT_EQ(b.substr(0, a.size()), a) << chat_format_name(f);
    EXPECT_GT(b.size(), a.size()) << chat_format_name(f);
  }
}

TEST(ChatTemplate, SystemFoldingEdgeCases) {
  const std::vector<ChatMessage> two_systems = {
      {"system", "A"}, {"system", "B"}, {"user", "U"}};
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, two_systems, true),
            "[INST] <<SYS>>\nA\n\nB\n<</SYS>>\n\nU [/INST]");
  EXPECT_EQ(apply_chat_template(ChatFormat::kMistral, two_systems, true),
            "[INST] A\n\nB\n\nU [/INST]");

  const std::vector<ChatMessage> only_system = {{"system", "S"}};
  // As if an empty user message followed; Llama-2 strips the joined text.
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, only_system, true),
            "[INST] <<SYS>>\nS\n<</SYS>> [/INST]");
  EXPECT_EQ(apply_chat_template(ChatFormat::kMistral, only_system, true), "[INST] S\n\n [/INST]");
  EXPECT_EQ(apply_chat_template(ChatFormat::kGemma, only_system, true),
            "<start_of_turn>user\nS\n\n<end_of_turn>\n<start_of_turn>model\n");
  // Formats with a system role keep it as a message.
  EXPECT_EQ(apply_chat_template(ChatFormat::kChatML, only_system, false),
            "<|im_start|>system\nS<|im_end|>\n");

  // A system message in the middle goes to the next user turn.
  const std::vector<ChatMessage> late = {
      {"user", "U1"}, {"assistant", "A1"}, {"system", "S"}, {"user", "U2"}};
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, late, true),
            "[INST] U1 [/INST] A1 </s><s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU2 [/INST]");
}

TEST(ChatTemplate, EmptyConversation) {
  const std::vector<ChatMessage> none;
  EXPECT_EQ(apply_chat_template(ChatFormat::kLlama2, none, true), "");
  EXPECT_EQ(apply_chat_template(ChatFormat::kChatML, none, true), "<|im_start|>assistant\n");
  EXPECT_EQ(apply_chat_template(ChatFormat::kChatML, none, false), "");
}

TEST(ChatTemplate, OtherRoles) {
  const std::vector<ChatMessage> chat = {{"user", "U"}, {"tool", "T"}};
  // Role headers write the role verbatim.
  EXPECT_EQ(apply_chat_template(ChatFormat::kChatML, chat, false),
            "<|im_start|>user\nU<|im_end|>\n<|im_start|>tool\nT<|im_end|>\n");
  EXPECT_EQ(apply_chat_template(ChatFormat::kPhi3, chat, false),
            "<|user|>\nU<|end|>\n<|tool|>\nT<|end|>\n");
  EXPECT_EQ(apply_chat_template(ChatFormat::kGemma, chat, false),
            "<start_of_turn>user\nU<end_of_turn>\n<start_of_turn>tool\nT<end_of_turn>\n");
  // Header-less formats write it as the assistant.
  EXPECT_EQ(apply_chat_template(ChatFormat::kMistral, chat, false), "[INST] U [/INST]T</s>");
}

TEST(ChatTemplate, NamesRoundTrip) {
  for (ChatFormat f : kAllChatFormats) {
    EXPECT_EQ(parse_chat_format(chat_format_name(f)), f) << chat_format_name(f);
  }
  EXPECT_EQ(parse_chat_format("llama2"), ChatFormat::kLlama2);
  EXPECT_EQ(parse_chat_format("llama3"), ChatFormat::kLlama3);
  EXPECT_EQ(parse_chat_format("chatml"), ChatFormat::kChatML);
  EXPECT_EQ(parse_chat_format("mistral"), ChatFormat::kMistral);
  EXPECT_EQ(parse_chat_format("phi3"), ChatFormat::kPhi3);
  EXPECT_EQ(parse_chat_format("ChatML"), ChatFormat::kChatML);
  EXPECT_FALSE(parse_chat_format("").has_value());
  EXPECT_FALSE(parse_chat_format("llama").has_value());
  EXPECT_FALSE(parse_chat_format("llama3 ").has_value());
  EXPECT_FALSE(parse_chat_format("vicuna").has_value());
}

TEST(ChatTemplate, StopStrings) {
  using V = std::vector<std::string>;
  EXPECT_EQ(stop_strings(ChatFormat::kLlama2), V{"</s>"});
  EXPECT_EQ(stop_strings(ChatFormat::kMistral), V{"</s>"});
  EXPECT_EQ(stop_strings(ChatFormat::kLlama3), V{"<|eot_id|>"});
  EXPECT_EQ(stop_strings(ChatFormat::kChatML), V{"<|im_end|>"});
  EXPECT_EQ(stop_strings(ChatFormat::kPhi3), V{"<|end|>"});
  EXPECT_EQ(stop_strings(ChatFormat::kZephyr), V{"</s>"});
  EXPECT_EQ(stop_strings(ChatFormat::kGemma), V{"<end_of_turn>"});
  // Every stop string ends the assistant's turn in the rendered text.
  const std::vector<ChatMessage> chat = {{"user", "U"}, {"assistant", "Answer42"}};
  for (ChatFormat f : kAllChatFormats) {
    const std::string text = apply_chat_template(f, chat, false);
    const auto answer = text.find("Answer42");
    ASSERT_NE(answer, std::string::npos) << chat_format_name(f);
    for (const std::string& s : stop_strings(f)) {
      EXPECT_NE(text.find(s, answer), std::string::npos) << chat_format_name(f) << ": " << text;
    }
  }
}

// ---- detection from real templates (tokenizer_config.json `chat_template` values) --------

// meta-llama/Llama-2-7b-chat-hf
const char* const kLlama2Template =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and "
    "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
    "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
    "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

// mistralai/Mistral-7B-Instruct-v0.1 (2023)
const char* const kMistralTemplate =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only "
    "user and assistant roles are supported!') }}{% endif %}{% endfor %}";

// meta-llama/Meta-Llama-3-8B-Instruct
const char* const kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] "
    "| trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// teknium/OpenHermes-2.5-Mistral-7B
const char* const kChatMLTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

// microsoft/Phi-3-small-8k-instruct (role written from the message: no literal "<|user|>")
const char* const kPhi3SmallTemplate =
    "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + "
    "message['content'] + '<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

// HuggingFaceH4/zephyr-7b-beta
const char* const kZephyrTemplate =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + "
    "message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and "
    "add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

// google/gemma-7b-it
const char* const kGemmaTemplate =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System "
    "role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] "
    "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must "
    "alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == "
    "'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
    "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{'<start_of_turn>model\n'}}{% endif %}";

// mistralai/Mistral-7B-Instruct-v0.3, shortened: tools and other spacing.
const char* const kMistralV3Template =
    "{%- if messages[0][\"role\"] == \"system\" %}{%- set system_message = "
    "messages[0][\"content\"] %}{%- endif %}{{- bos_token }}{%- for message in "
    "loop_messages %}{%- if message[\"role\"] == \"user\" %}{%- if tools is not none and "
    "(message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS] [\" }}{%- endif %}"
    "{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}{%- endif %}{%- endfor %}";

// microsoft/phi-4: ChatML markers with "<|im_sep|>" instead of the newline.
const char* const kPhi4Template =
    "{% for message in messages %}{% if (message['role'] == 'system') %}"
    "{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}"
    "{% endif %}";

// lmsys/vicuna style: no format of ours.
const char* const kVicunaTemplate =
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'USER: ' + "
    "message['content'] + '\n' }}{% else %}{{ 'ASSISTANT: ' + message['content'] + "
    "'</s>\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}"
    "{% endif %}";

TEST(ChatTemplate, DetectsRealTemplates) {
  EXPECT_EQ(detect_chat_format(kLlama2Template), ChatFormat::kLlama2);
  EXPECT_EQ(detect_chat_format(kMistralTemplate), ChatFormat::kMistral);
  EXPECT_EQ(detect_chat_format(kLlama3Template), ChatFormat::kLlama3);
  EXPECT_EQ(detect_chat_format(kChatMLTemplate), ChatFormat::kChatML);
  EXPECT_EQ(detect_chat_format(kPhi3SmallTemplate), ChatFormat::kPhi3);
  EXPECT_EQ(detect_chat_format(kZephyrTemplate), ChatFormat::kZephyr);
  EXPECT_EQ(detect_chat_format(kGemmaTemplate), ChatFormat::kGemma);
}

TEST(ChatTemplate, RejectsLookAlikesAndUnknownTemplates) {
  EXPECT_FALSE(detect_chat_format(kMistralV3Template).has_value());
  EXPECT_FALSE(detect_chat_format(kPhi4Template).has_value());
  EXPECT_FALSE(detect_chat_format(kVicunaTemplate).has_value());
  EXPECT_FALSE(detect_chat_format("").has_value());
  EXPECT_FALSE(detect_chat_format("{{ messages }}").has_value());
}

TEST(ChatTemplate, DetectsABareName) {
  EXPECT_EQ(detect_chat_format("chatml"), ChatFormat::kChatML);
  EXPECT_EQ(detect_chat_format("llama3\n"), ChatFormat::kLlama3);
}

// The llama.cpp vocab files: those that carry a template must be detected (the Phi-3 one
// holds Phi-3-mini's); those without one have nothing to detect.
TEST(ChatTemplate, DetectsTemplatesInVocabFiles) {
  const std::string dir = testing::test_data_path("models/tokenizers/llama.cpp-vocab");
  const std::string phi3 = dir + "/ggml-vocab-phi-3.gguf";
  TANDEM_REQUIRE_DATA(phi3);
  Result<gguf::File> f = gguf::File::open(phi3);
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  Result<std::string> tmpl = f->get_string("tokenizer.chat_template");
  ASSERT_TRUE(tmpl.is_ok()) << tmpl.error().message();
  EXPECT_EQ(detect_chat_format(*tmpl), ChatFormat::kPhi3) << *tmpl;

  int with_template = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".gguf") continue;
    Result<gguf::File> g = gguf::File::open(entry.path().string());
    ASSERT_TRUE(g.is_ok()) << g.error().message();
    if (g->find("tokenizer.chat_template") == nullptr) continue;
    ++with_template;
    Result<std::string> t = g->get_string("tokenizer.chat_template");
    ASSERT_TRUE(t.is_ok()) << t.error().message();
    EXPECT_TRUE(detect_chat_format(*t).has_value()) << entry.path() << ": " << *t;
  }
  EXPECT_GE(with_template, 1);
}

}  // namespace
}  // namespace tandem
