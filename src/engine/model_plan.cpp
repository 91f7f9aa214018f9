#include "engine/model_plan.h"

#include <cmath>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

namespace tandem {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr float kEmbdStd = 0.1f;
constexpr float kNormStd = 0.1f;
constexpr float kBiasStd = 0.2f;

Status check_shape(const ModelShape& s, int32_t n_vocab) {
  auto bad = [&]() { return Error(Code::kInvalidArgument) << "model shape '" << s.preset << "': "; };
  if (s.n_embd <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.n_ff <= 0 ||
      s.n_ctx <= 0)
    return bad() << "sizes must be positive";
  if (n_vocab <= 0) return bad() << "the vocab has no tokens";
  if (s.n_embd % s.n_head != 0)
    return bad() << "n_embd " << s.n_embd << " is not a multiple of n_head " << s.n_head;
  if (s.n_head % s.n_head_kv != 0)
    return bad() << "n_head " << s.n_head << " is not a multiple of n_head_kv " << s.n_head_kv;
  if (s.head_dim() % 2 != 0) return bad() << "head_dim " << s.head_dim() << " is odd";
  return Status::ok();
}

std::vector<gguf::KeyValue> model_metadata(const ModelShape& s, const ModelFileType& ft,
                                           int32_t n_vocab, uint64_t seed) {
  using gguf::Value;
  const std::string a = std::string(arch_name(s.arch)) + ".";
  auto u32 = [](int32_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  return {
      {"general.architecture", Value::str(arch_name(s.arch))},
      {"general.name", Value::str("tandem random " + s.preset)},
      {"general.file_type", Value::u32(ft.llama_ftype)},
      {"general.quantization_version", Value::u32(kQuantizationVersion)},
      {a + "vocab_size", u32(n_vocab)},
      {a + "context_length", u32(s.n_ctx)},
      {a + "embedding_length", u32(s.n_embd)},
      {a + "block_count", u32(s.n_layer)},
      {a + "feed_forward_length", u32(s.n_ff)},
      {a + "attention.head_count", u32(s.n_head)},
      {a + "attention.head_count_kv", u32(s.n_head_kv)},
      {a + "attention.layer_norm_rms_epsilon", Value::f32(s.rms_eps)},
      {a + "rope.dimension_count", u32(s.head_dim())},
      {a + "rope.freq_base", Value::f32(s.rope_base)},
      {"tandem.make_model.preset", Value::str(s.preset)},
      {"tandem.make_model.seed", Value::u64(seed)},
  };
}

// Builds the tensor list in file order (llama.cpp's converters' order).
class TensorLister {
 public:
  TensorLister(const ModelShape& s, const ModelFileType& ft, int32_t n_vocab)
      : s_(s), ft_(ft), n_vocab_(n_vocab) {}

  std::vector<PlannedTensor> list() {
    const uint64_t d = static_cast<uint64_t>(s_.n_embd);
    const uint64_t q = static_cast<uint64_t>(s_.q_dim());
    const uint64_t kv = static_cast<uint64_t>(s_.kv_dim());
    const uint64_t ff = static_cast<uint64_t>(s_.n_ff);
    const uint64_t nv = static_cast<uint64_t>(n_vocab_);
    matrix("token_embd.weight", d, nv, MatrixRole::kTokenEmbd, -1, kEmbdStd);
    if (s_.rope_scaling) {
      PlannedTensor t = vector("rope_freqs.weight", static_cast<uint64_t>(s_.head_dim() / 2),
                               WeightInit::kFixed, 0.f);
      t.values = llama3_rope_factors(*s_.rope_scaling, s_.head_dim(), s_.rope_base);
      out_.push_back(std::move(t));
    }
    for (int32_t i = 0; i < s_.n_layer; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      out_.push_back(vector(b + "attn_norm.weight", d, WeightInit::kNormWeight, kNormStd));
      matrix(b + "attn_q.weight", d, q, MatrixRole::kAttnQ, i, fan_in_std(1.4f, d));
      if (s_.qkv_bias) out_.push_back(vector(b + "attn_q.bias", q, WeightInit::kNormal, kBiasStd));
      matrix(b + "attn_k.weight", d, kv, MatrixRole::kAttnK, i, fan_in_std(1.4f, d));
      if (s_.qkv_bias) out_.push_back(vector(b + "attn_k.bias", kv, WeightInit::kNormal, kBiasStd));
      matrix(b + "attn_v.weight", d, kv, MatrixRole::kAttnV, i, fan_in_std(1.0f, d));
      if (s_.qkv_bias) out_.push_back(vector(b + "attn_v.bias", kv, WeightInit::kNormal, kBiasStd));
      matrix(b + "attn_output.weight", q, d, MatrixRole::kAttnOutput, i, fan_in_std(1.0f, q));
      out_.push_back(vector(b + "ffn_norm.weight", d, WeightInit::kNormWeight, kNormStd));
      matrix(b + "ffn_gate.weight", d, ff, MatrixRole::kFfnGate, i, fan_in_std(1.0f, d));
      matrix(b + "ffn_up.weight", d, ff, MatrixRole::kFfnUp, i, fan_in_std(1.0f, d));
      matrix(b + "ffn_down.weight", ff, d, MatrixRole::kFfnDown, i, fan_in_std(1.0f, ff));
    }
    out_.push_back(vector("output_norm.weight", d, WeightInit::kNormWeight, kNormStd));
    if (!s_.tied) matrix("output.weight", d, nv, MatrixRole::kOutput, -1, kEmbdStd);
    return std::move(out_);
  }

 private:
  static float fan_in_std(float c, uint64_t fan_in) {
    return c / std::sqrt(static_cast<float>(fan_in));
  }

  static PlannedTensor vector(std::string name, uint64_t n, WeightInit init, float std) {
    PlannedTensor t;
    t.name = std::move(name);
    t.dims = {n};
    t.type = t.wanted = DType::kF32;
    t.init = init;
    t.std = std;
    return t;
  }

  // [cols, rows] with ne[0] = cols = fan_in.
  void matrix(std::string name, uint64_t cols, uint64_t rows, MatrixRole role, int32_t layer,
              float std) {
    const MatrixTypeChoice c = matrix_type(ft_, role, layer, s_.n_layer, s_.tied,
                                           static_cast<int64_t>(cols), s_.n_head / s_.n_head_kv);
    PlannedTensor t;
    t.name = std::move(name);
    t.dims = {cols, rows};
    t.type = c.type;
    t.wanted = c.wanted;
    t.init = WeightInit::kNormal;
    t.std = std;
    out_.push_back(std::move(t));
  }

  const ModelShape& s_;
  const ModelFileType& ft_;
  int32_t n_vocab_;
  std::vector<PlannedTensor> out_;
};

// One line per (wanted type, used type, row length) that fell back.
std::vector<std::string> fallback_notes(const std::vector<PlannedTensor>& tensors) {
  std::map<std::tuple<uint32_t, uint32_t, int64_t>, int> counts;
  for (const PlannedTensor& t : tensors)
    if (t.type != t.wanted)
      ++counts[{static_cast<uint32_t>(t.wanted), static_cast<uint32_t>(t.type), t.row_len()}];
  std::vector<std::string> notes;
  for (const auto& [key, n] : counts) {
    const auto [wanted, used, row] = key;
    const DType w = static_cast<DType>(wanted);
    std::ostringstream line;
    line << n << (n == 1 ? " tensor" : " tensors") << " with rows of " << row << " use "
         << dtype_name(static_cast<DType>(used)) << " instead of " << dtype_name(w) << " ("
         << row << " is not a multiple of " << traits(w).block_elems << "), as llama.cpp does";
    notes.push_back(line.str());
  }
  return notes;
}

}  // namespace

int64_t PlannedTensor::rows() const {
  return dims.size() < 2 ? 1 : static_cast<int64_t>(dims[1]);
}

uint64_t PlannedTensor::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

uint64_t PlannedTensor::nbytes() const {
  return *row_bytes(type, dims[0]) * static_cast<uint64_t>(rows());
}

uint64_t ModelPlan::data_bytes() const {
  uint64_t n = 0;
  for (const PlannedTensor& t : tensors) n += t.nbytes();
  return n;
}

Result<ModelPlan> plan_model(const ModelShape& shape, const ModelFileType& ft,
                             std::vector<gguf::KeyValue> vocab_kv, int32_t n_vocab,
                             uint64_t seed) {
  TANDEM_TRY(check_shape(shape, n_vocab));
  ModelPlan p;
  p.shape = shape;
  p.shape.n_vocab = n_vocab;
  p.file_type = ft;
  p.metadata = model_metadata(p.shape, ft, n_vocab, seed);
  for (gguf::KeyValue& kv : vocab_kv) p.metadata.push_back(std::move(kv));
  p.tensors = TensorLister(p.shape, ft, n_vocab).list();
  p.notes = fallback_notes(p.tensors);
  return p;
}

}  // namespace tandem
