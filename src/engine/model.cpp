#include "engine/model.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "cpu/isa.h"

namespace tandem {
namespace {

// Finds `name` and checks it is [rows, cols] (rows == 1 for a vector) of a supported type.
// Vectors (norms, biases) must be F32.
Result<WeightView> bind_tensor(const gguf::File& f, const std::string& name, int64_t cols, int64_t rows,
                        bool required = true) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) {
    if (!required) return WeightView{};
    return Error(Code::kBadGguf) << f.path() << ": tensor '" << name << "' is missing";
  }
  const bool is_vector = rows == 1;
  const bool shape_ok = is_vector ? (t->dims.size() == 1 && t->dims[0] == static_cast<uint64_t>(cols))
                                  : (t->dims.size() == 2 && t->dims[0] == static_cast<uint64_t>(cols) &&
                                     t->dims[1] == static_cast<uint64_t>(rows));
  if (!shape_ok) {
    Error e(Code::kBadGguf);
    e << f.path() << ": tensor '" << name << "' has shape [";
    for (size_t i = 0; i < t->dims.size(); ++i) e << (i ? ", " : "") << t->dims[i];
    e << "], expected [" << cols;
    if (!is_vector) e << ", " << rows;
    return std::move(e) << "]";
  }
  if (!traits(t->type).supported)
    return Error(Code::kUnsupported) << f.path() << ": tensor '" << name << "' has type "
                                     << dtype_name(t->type) << ", which Tandem does not support yet";
  if (is_vector && t->type != DType::kF32)
    return Error(Code::kUnsupported) << f.path() << ": vector '" << name << "' has type "
                                     << dtype_name(t->type) << ", expected f32";
  WeightView w;
  w.data = f.tensor_data(*t).data();
  w.type = t->type;
  w.cols = cols;
  w.rows = rows;
  w.name = name;
  return w;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const ModelLoadOptions& o) {
  TANDEM_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(path));
  std::unique_ptr<Model> m(new Model(std::move(f)));
  TANDEM_ASSIGN_OR_RETURN(m->config_, read_model_config(m->file_));
  TANDEM_TRY(m->bind_weights());
  if (o.pack_for_cpu) TANDEM_TRY(m->pack_weights(o.cpu_layers, o.cpu_head));
  return m;
}

Status Model::pack_weights(int32_t cpu_layers, bool cpu_head) {
  const Result<cpu::Isa> isa = cpu::runtime_isa();
  if (!isa.is_ok()) return Status::ok();  // the context reports it
  std::vector<WeightView*> matrices;
  const size_t n_cpu = cpu_layers < 0 ? layers_.size() : std::min(layers_.size(), static_cast<size_t>(cpu_layers));
  for (size_t i = 0; i < n_cpu; ++i) {
    LayerWeights& l = layers_[i];
    for (WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) matrices.push_back(w);
  }
  if (cpu_head) matrices.push_back(&output_);
  std::vector<WeightView*> packable;
  std::vector<cpu::PackRequest> reqs;
  for (WeightView* w : matrices) {
    if (!cpu::packable(w->type, *isa)) continue;
    packable.push_back(w);
    reqs.push_back({w->type, w->data, w->rows, w->cols});
  }
  // One allocation for all (cpu::pack_matrices): huge pages for the small ones too.
  // Each source's mapped pages are dropped as soon as it is packed, except a tied
  // output matrix's, which is also the embedding table, read row by row from the file.
  TANDEM_ASSIGN_OR_RETURN(std::vector<cpu::PackedMatrix> packed, cpu::pack_matrices(reqs, [&](size_t i) {
    const WeightView* w = packable[i];
    if (w == &output_ && tied_) return;
    const auto n = row_bytes(w->type, static_cast<uint64_t>(w->cols));
    file_.release_pages({static_cast<const std::byte*>(w->data), static_cast<size_t>(*n * static_cast<uint64_t>(w->rows))});
  }));
  for (size_t i = 0; i < packed.size(); ++i) {
    packed_.push_back(std::make_unique<cpu::PackedMatrix>(std::move(packed[i])));
    packable[i]->packed = packed_.back().get();
    packed_bytes_ += packable[i]->packed->bytes();
  }
  return Status::ok();
}

Status Model::bind_weights() {
  const gguf::File& f = file_;
  ModelConfig& c = config_;
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (emb == nullptr) return Error(Code::kBadGguf) << f.path() << ": tensor 'token_embd.weight' is missing";
  if (emb->dims.size() != 2 || emb->dims[1] == 0 || emb->dims[1] > (1u << 24))
    return Error(Code::kBadGguf) << f.path() << ": token_embd.weight must be [n_embd, n_vocab]";
  c.n_vocab = static_cast<int32_t>(emb->dims[1]);
  const int64_t d = c.n_embd;
  TANDEM_ASSIGN_OR_RETURN(token_embd_, bind_tensor(f, "token_embd.weight", d, c.n_vocab));
  TANDEM_ASSIGN_OR_RETURN(output_norm_, bind_tensor(f, "output_norm.weight", d, 1));
  TANDEM_ASSIGN_OR_RETURN(output_, bind_tensor(f, "output.weight", d, c.n_vocab, /*required=*/false));
  tied_ = !output_.present();
  if (tied_) output_ = token_embd_;
  TANDEM_ASSIGN_OR_RETURN(rope_freqs_, bind_tensor(f, "rope_freqs.weight", c.n_rot / 2, 1, false));

  layers_.resize(static_cast<size_t>(c.n_layer));
  for (int32_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = layers_[static_cast<size_t>(i)];
    const std::string b = "blk." + std::to_string(i) + ".";
    TANDEM_ASSIGN_OR_RETURN(l.attn_norm, bind_tensor(f, b + "attn_norm.weight", d, 1));
    TANDEM_ASSIGN_OR_RETURN(l.wq, bind_tensor(f, b + "attn_q.weight", d, c.q_dim()));
    TANDEM_ASSIGN_OR_RETURN(l.wk, bind_tensor(f, b + "attn_k.weight", d, c.kv_dim()));
    TANDEM_ASSIGN_OR_RETURN(l.wv, bind_tensor(f, b + "attn_v.weight", d, c.kv_dim()));
    TANDEM_ASSIGN_OR_RETURN(l.bq, bind_tensor(f, b + "attn_q.bias", c.q_dim(), 1, c.has_qkv_bias));
    TANDEM_ASSIGN_OR_RETURN(l.bk, bind_tensor(f, b + "attn_k.bias", c.kv_dim(), 1, c.has_qkv_bias));
    TANDEM_ASSIGN_OR_RETURN(l.bv, bind_tensor(f, b + "attn_v.bias", c.kv_dim(), 1, c.has_qkv_bias));
    TANDEM_ASSIGN_OR_RETURN(l.wo, bind_tensor(f, b + "attn_output.weight", c.q_dim(), d));
    TANDEM_ASSIGN_OR_RETURN(l.ffn_norm, bind_tensor(f, b + "ffn_norm.weight", d, 1));
    TANDEM_ASSIGN_OR_RETURN(l.w_gate, bind_tensor(f, b + "ffn_gate.weight", d, c.n_ff));
    TANDEM_ASSIGN_OR_RETURN(l.w_up, bind_tensor(f, b + "ffn_up.weight", d, c.n_ff));
    TANDEM_ASSIGN_OR_RETURN(l.w_down, bind_tensor(f, b + "ffn_down.weight", c.n_ff, d));
  }
  for (const gguf::TensorInfo& t : f.tensors()) weight_bytes_ += t.nbytes;
  return Status::ok();
}

}  // namespace tandem
