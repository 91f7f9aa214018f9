// tandem chat: a multi-turn conversation with the model's chat template. Each turn the
// whole conversation is rendered again and only the tokens after the part already in
// the KV cache are run. Ctrl-C stops the current answer; at the prompt it quits.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/gpu_setup.h"
#include "cli/raw_utf8_writer.h"
#include "engine/chat_template.h"
#include "engine/generate.h"
#include "engine/runtime.h"
#include "engine/utf8.h"

namespace tandem::cli {
namespace {

std::atomic<bool> g_generating{false};  // signal-handler state: lock-free atomics only
std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  if (g_generating.load()) {
    g_stop.store(true);
  } else {
    static const char kBye[] = "\n";
    (void)!::write(STDERR_FILENO, kBye, sizeof(kBye) - 1);
    ::_exit(130);
  }
}

Result<ChatFormat> choose_format(const ChatOptions& o, const Model& m) {
  if (!o.chat_template.empty()) {
    if (auto f = parse_chat_format(o.chat_template)) return *f;
    return Error(Code::kInvalidArgument) << "unknown chat template '" << o.chat_template
                                         << "' (llama2, llama3, chatml, mistral, phi3, zephyr, gemma)";
  }
  if (auto tmpl = m.file().get_string("tokenizer.chat_template")) {
    if (auto f = detect_chat_format(*tmpl)) return *f;
    return Error(Code::kUnsupported) << m.file().path()
                                     << ": its chat template is not one Tandem knows; pick one with --chat-template";
  }
  return ChatFormat::kChatML;  // no template in the file: a neutral default
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Renders and tokenizes the conversation; while it leaves no room to answer in the
// context, drops the oldest turns after any system message.
Result<std::vector<int32_t>> render_fitting(ChatFormat format, const Tokenizer& tok,
                                            std::vector<ChatMessage>& messages, int32_t n_ctx) {
  constexpr int32_t kAnswerRoom = 16;  // tokens left free for at least a short answer
  while (true) {
    const std::string text = apply_chat_template(format, messages, true);
    TANDEM_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok.encode(text, tok.add_bos_default(), /*parse_special=*/true));
    if (static_cast<int64_t>(ids.size()) + kAnswerRoom <= n_ctx) return ids;
    const size_t first = !messages.empty() && messages[0].role == "system" ? 1 : 0;
    if (messages.size() - first <= 1)
      return Error(Code::kOutOfRange) << "this message needs " << ids.size() << " tokens with the template, the context holds "
                                      << n_ctx << " (" << kAnswerRoom << " kept for the answer); raise -c";
    messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first));
  }
}

}  // namespace

int cmd_chat(const ChatOptions& o) {
  auto cfg = context_config(o.m);
  if (!cfg) return fail(cfg.error());
  auto gpu = setup_gpu(GpuRequest{o.m.model, o.m.gpu, o.m.ctx, o.m.kv_type}, /*force_plan=*/false, stderr);
  if (!gpu) return fail(gpu.error());
  auto rt = open_runtime_on(*gpu, o.m.model, *cfg);
  if (!rt) return fail(rt.error());
  auto format = choose_format(o, *rt->model);
  if (!format) return fail(format.error());
  const Tokenizer& tok = *rt->tokenizer;
  Context& ctx = *rt->context;
  const SamplerConfig sc = sampler_config(o.s);
  auto sampler = Sampler::create(sc, rt->model->config().n_vocab);
  if (!sampler) return fail(sampler.error());
  std::signal(SIGINT, on_sigint);
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  std::fprintf(stderr, "tandem chat: %s template, seed %llu. Ctrl-C stops an answer; Ctrl-D quits.\n",
               std::string(chat_format_name(*format)).c_str(), static_cast<unsigned long long>(sc.seed));

  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<int32_t> cached;  // tokens now in sequence 0 of the KV cache
  const std::vector<std::string> stops = stop_strings(*format);
  std::string line;
  while (true) {
    if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({"user", line});
    auto ids = render_fitting(*format, tok, messages, ctx.n_ctx());
    if (!ids) {  // this turn cannot fit even alone: say so and take the next one
      std::fprintf(stderr, "tandem: error: %s\n", ids.error().message().c_str());
      messages.pop_back();
      continue;
    }
    const size_t keep = common_prefix(cached, *ids);
    ctx.truncate(0, static_cast<int32_t>(keep));
    cached.resize(keep);
    std::vector<int32_t> fresh(ids->begin() + static_cast<std::ptrdiff_t>(keep), ids->end());
    if (fresh.empty()) {  // never decode nothing: re-run the last token
      ctx.truncate(0, static_cast<int32_t>(keep - 1));
      cached.pop_back();
      fresh.push_back(ids->back());
    }
    GenerateOptions go;
    go.n_predict = o.n_predict;
    go.ignore_eos = o.ignore_eos;
    std::string answer;
    std::vector<int32_t> generated;
    RawUtf8Writer out(stdout);
    g_stop = false;
    g_generating = true;
    auto st = generate(ctx, tok, *sampler, fresh, go,
                       [&](int32_t token, std::string_view piece) {
                         generated.push_back(token);
                         answer.append(piece);
                         for (const std::string& s : stops)
                           if (answer.size() >= s.size() && answer.compare(answer.size() - s.size(), s.size(), s) == 0) {
                             answer.resize(answer.size() - s.size());
                             return false;
                           }
                         out.write(piece);
                         return true;
                       },
                       &g_stop);
    g_generating = false;
    out.finish();
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!st) {  // e.g. the context filled up: the conversation goes on, shortened next turn
      std::fprintf(stderr, "tandem: error: %s\n", st.error().message().c_str());
    }
    // The next turn renders the answer as text again: invalid bytes a model may generate
    // become U+FFFD there (the cache is re-matched token by token, so nothing is lost).
    Utf8StreamDecoder clean;
    messages.push_back({"assistant", clean.push(answer) + clean.flush()});
    // What the cache holds now: the prompt, then the answer's tokens (re-matched next turn).
    cached.assign(ids->begin(), ids->end());
    cached.insert(cached.end(), generated.begin(), generated.end());
    cached.resize(std::min<size_t>(cached.size(), static_cast<size_t>(ctx.n_past(0))));
    sampler->reset();
  }
  return 0;
}

}  // namespace tandem::cli
