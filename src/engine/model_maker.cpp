#include "engine/model_maker.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "engine/made_up_vocab.h"
#include "engine/tiktoken.h"
#include "engine/vocab.h"
#include "engine/vocab_gguf.h"

namespace tandem {

Result<VocabKeys> make_vocab_keys(const ModelMakerConfig& c, int32_t preset_n_vocab) {
  VocabKeys out;
  if (!c.vocab_path.empty() && !c.tiktoken_path.empty()) {
    return Error(Code::kInvalidArgument)
           << "give --vocab or --tiktoken, not both (" << c.vocab_path << ", " << c.tiktoken_path << ")";
  }
  if (!c.vocab_path.empty()) {
    TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(c.vocab_path));
    TANDEM_ASSIGN_OR_RETURN(Vocab v, load_vocab(f));  // checks the vocab is usable
    for (const gguf::KeyValue& kv : f.metadata())
      if (kv.key.starts_with("tokenizer.")) out.kv.push_back(kv);
    out.n_vocab = v.n_vocab();
    out.source = c.vocab_path;
    return out;
  }
  Vocab v;
  if (!c.tiktoken_path.empty()) {
    TANDEM_ASSIGN_OR_RETURN(v, load_llama3_tiktoken(c.tiktoken_path));
    out.source = c.tiktoken_path;
  } else {
    TANDEM_ASSIGN_OR_RETURN(v, made_up_vocab(preset_n_vocab));
    out.source = "made-up SPM vocab";
  }
  out.n_vocab = v.n_vocab();
  out.kv = vocab_to_gguf(v);
  return out;
}

Result<ModelPlan> plan_made_model(const ModelMakerConfig& c) {
  TANDEM_ASSIGN_OR_RETURN(ModelShape shape, find_preset(c.preset));
  TANDEM_ASSIGN_OR_RETURN(ModelFileType ft, parse_model_file_type(c.type));
  if (c.out_path.empty()) return Error(Code::kInvalidArgument) << "no output path given";
  TANDEM_ASSIGN_OR_RETURN(VocabKeys vocab, make_vocab_keys(c, shape.n_vocab));
  return plan_model(shape, ft, std::move(vocab.kv), vocab.n_vocab, c.seed);
}

Result<MadeModel> make_model(const ModelMakerConfig& c, const WriteProgressFn& progress) {
  MadeModel m;
  TANDEM_ASSIGN_OR_RETURN(m.plan, plan_made_model(c));
  const cpu::ThreadArena arena(c.threads);
  TANDEM_TRY(write_model_file(m.plan, c.out_path, c.seed, arena, progress));
  std::error_code ec;
  m.file_bytes = std::filesystem::file_size(c.out_path, ec);
  if (ec) return Error(Code::kIo) << c.out_path << ": cannot read its size: " << ec.message();
  return m;
}

}  // namespace tandem
