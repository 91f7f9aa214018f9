// `make-model` end to end on the tiny preset: every weight type loads in the engine and
// decodes to finite logits; files are a function of the seed alone (not of the thread
// count); the stored weights have the requested scales; vocab copying and building;
// errors for bad input. (The big presets are checked without writing, in
// model_plan_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cpu/quant_ref.h"
#include "engine/model_maker.h"
#include "engine/runtime.h"
#include "engine/vocab.h"
#include "storage/gguf.h"
#include "test_data.h"

namespace tandem {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/tandem_make_model_" + name + ".gguf";
}

// Writes the tiny preset; fails the test on an error.
MadeModel make_tiny(const std::string& path, const std::string& type, uint64_t seed = 1,
                    int32_t threads = 2) {
  ModelMakerConfig c;
  c.preset = "tiny";
  c.type = type;
  c.out_path = path;
  c.seed = seed;
  c.threads = threads;
  Result<MadeModel> m = make_model(c);
  EXPECT_TRUE(m.is_ok()) << type << ": " << m.error().message();
  return m.is_ok() ? std::move(m).value() : MadeModel{};
}

std::vector<float> dequantize_tensor(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  std::vector<float> out(t->n_elements);
  const auto data = f.tensor_data(*t);
  const size_t rb = *row_bytes(t->type, t->dims[0]);
  for (uint64_t r = 0; r < t->rows(); ++r)
    cpu::dequantize_row_ref(t->type, data.data() + r * rb, out.data() + r * t->dims[0],
                            static_cast<int64_t>(t->dims[0]));
  return out;
}

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};

Moments moments(const std::vector<float>& v) {
  Moments m{0, 0, v.empty() ? 0 : v[0], v.empty() ? 0 : v[0]};
  double s = 0, s2 = 0;
  for (float x : v) {
    s += x;
    s2 += static_cast<double>(x) * x;
    m.min = std::min<double>(m.min, x);
    m.max = std::max<double>(m.max, x);
  }
  m.mean = s / static_cast<double>(v.size());
  m.std = std::sqrt(s2 / static_cast<double>(v.size()) - m.mean * m.mean);
  return m;
}

class EveryType : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryType, TinyModelLoadsAndDecodesToFiniteLogits) {
  const std::string type = GetParam();
  const std::string path = temp_path("tiny_" + type);
  const MadeModel made = make_tiny(path, type);
  ASSERT_FALSE(made.plan.tensors.empty());

  ContextConfig cfg;
  cfg.n_ctx = 64;
  cfg.n_threads = 2;
  cfg.kv_type = DType::kF32;
  Result<Runtime> rt = open_runtime(path, cfg);
  ASSERT_TRUE(rt.is_ok()) << type << ": " << rt.error().message();
  const Model& model = *rt->model;
  EXPECT_EQ(model.config().n_vocab, 512);
  EXPECT_EQ(model.config().n_layer, 2);
  EXPECT_EQ(model.config().n_ff, 512);
  EXPECT_TRUE(model.tied_output());
  // The file holds exactly the planned tensors and types.
  ASSERT_EQ(model.file().tensors().size(), made.plan.tensors.size());
  for (size_t i = 0; i < made.plan.tensors.size(); ++i) {
    EXPECT_EQ(model.file().tensors()[i].name, made.plan.tensors[i].name);
    EXPECT_EQ(model.file().tensors()[i].type, made.plan.tensors[i].type) << made.plan.tensors[i].name;
  }
  EXPECT_EQ(model.file().get_uint("general.file_type").value(), made.plan.file_type.llama_ftype);

  Result<std::vector<int32_t>> ids = rt->tokenizer->encode("Hello world, the quick brown fox", true, false);
  ASSERT_TRUE(ids.is_ok()) << ids.error().message();
  ASSERT_GT(ids->size(), 3u);
  EXPECT_EQ((*ids)[0], 1);  // BOS
  std::vector<int32_t> tokens = *ids;
  for (int step = 0; step < 4; ++step) {
    Result<std::span<const float>> logits = rt->context->decode(tokens, false);
    ASSERT_TRUE(logits.is_ok()) << logits.error().message();
    ASSERT_EQ(logits->size(), 512u);
    std::vector<float> l(logits->begin(), logits->end());
    for (float x : l) ASSERT_TRUE(std::isfinite(x)) << type << " step " << step;
    const Moments m = moments(l);
    EXPECT_GT(m.std, 0.05) << type << ": logits are (nearly) constant";
    tokens = {static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin())};
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(MakeModel, EveryType,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
                                           "q5_1", "q2_k", "q4_k", "q5_k", "q6_k", "q3_k_m",
                                           "q4_k_m", "q5_k_m"),
                         [](const auto& info) { return info.param; });

TEST(MakeModel, SameSeedSameBytesOtherSeedOtherBytes) {
  for (const std::string type : {"f16", "q4_k_m"}) {
    const std::string a = temp_path("det_a"), b = temp_path("det_b"), c = temp_path("det_c");
    make_tiny(a, type, 7);
    make_tiny(b, type, 7);
    make_tiny(c, type, 8);
    const std::string ba = testing::read_file(a), bb = testing::read_file(b), bc = testing::read_file(c);
    ASSERT_FALSE(ba.empty());
    EXPECT_TRUE(ba == bb) << type << ": the same seed wrote different files";
    ASSERT_EQ(ba.size(), bc.size()) << type;  // same header length, seed aside
    EXPECT_FALSE(ba == bc) << type << ": seeds 7 and 8 wrote the same file";
    // The weights differ, not only the seed key: compare one tensor.
    Result<gguf::File> fa = gguf::File::open(a), fc = gguf::File::open(c);
    ASSERT_TRUE(fa.is_ok() && fc.is_ok());
    EXPECT_NE(dequantize_tensor(*fa, "blk.0.attn_q.weight"), dequantize_tensor(*fc, "blk.0.attn_q.weight"));
    for (const std::string& p : {a, b, c}) std::filesystem::remove(p);
  }
}

TEST(MakeModel, BytesDoNotDependOnTheThreadCount) {
  const std::string one = temp_path("threads1"), two = temp_path("threads2"), three = temp_path("threads3");
  make_tiny(one, "q4_0", 5, 1);
  make_tiny(two, "q4_0", 5, 2);
  make_tiny(three, "q4_0", 5, 3);
  const std::string b1 = testing::read_file(one);
  ASSERT_FALSE(b1.empty());
  EXPECT_TRUE(b1 == testing::read_file(two));
  EXPECT_TRUE(b1 == testing::read_file(three));
  for (const std::string& p : {one, two, three}) std::filesystem::remove(p);
}

// The f32 file stores the drawn values exactly; their statistics match the scheme of
// the golden synthetic models. Tolerances: each matrix has >= 32768 values, so the
// sample std is within 1.5% of the true one with overwhelming probability.
TEST(MakeModel, WeightsHaveTheRequestedScales) {
  const std::string path = temp_path("stats_f32");
  const MadeModel made = make_tiny(path, "f32", 11);
  Result<gguf::File> f = gguf::File::open(path);
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  const std::map<std::string, double> expected_std = {
      {"token_embd.weight", 0.1},
      {"blk.0.attn_q.weight", 1.4 / std::sqrt(256.0)},
      {"blk.1.attn_k.weight", 1.4 / std::sqrt(256.0)},
      {"blk.0.attn_v.weight", 1.0 / std::sqrt(256.0)},
      {"blk.0.attn_output.weight", 1.0 / std::sqrt(256.0)},
      {"blk.1.ffn_gate.weight", 1.0 / std::sqrt(256.0)},
      {"blk.0.ffn_up.weight", 1.0 / std::sqrt(256.0)},
      {"blk.1.ffn_down.weight", 1.0 / std::sqrt(512.0)},  // fan_in n_ff
  };
  for (const auto& [name, sd] : expected_std) {
    const Moments m = moments(dequantize_tensor(*f, name));
    EXPECT_NEAR(m.std, sd, 0.015 * sd) << name;
    EXPECT_NEAR(m.mean, 0.0, 0.02 * sd) << name;
  }
  for (const std::string name : {"blk.0.attn_norm.weight", "blk.1.ffn_norm.weight", "output_norm.weight"}) {
    const std::vector<float> v = dequantize_tensor(*f, name);
    const Moments m = moments(v);
    EXPECT_NEAR(m.mean, 1.0, 0.03) << name;  // 256 values of std 0.1
    EXPECT_NEAR(m.std, 0.1, 0.02) << name;
    EXPECT_GE(m.min, 0.5) << name;
    EXPECT_LE(m.max, 1.5) << name;
  }
  // Exactly the values planned_tensor_rows gives.
  for (const PlannedTensor& t : made.plan.tensors) {
    std::vector<float> want(t.n_elements());
    planned_tensor_rows(t, 11, 0, t.rows(), want.data());
    EXPECT_EQ(dequantize_tensor(*f, t.name), want) << t.name;
  }
  std::filesystem::remove(path);
}

// A quantized file stores the same underlying weights (the stream depends on the seed
// and the tensor's name only), rounded: the dequantized values track the f32 ones.
TEST(MakeModel, QuantizedFilesHoldTheSameWeightsRounded) {
  const std::string p32 = temp_path("same_f32"), p4 = temp_path("same_q4_0");
  make_tiny(p32, "f32", 3);
  make_tiny(p4, "q4_0", 3);
  Result<gguf::File> f32 = gguf::File::open(p32), f4 = gguf::File::open(p4);
  ASSERT_TRUE(f32.is_ok() && f4.is_ok());
  const std::vector<float> a = dequantize_tensor(*f32, "blk.0.ffn_up.weight");
  const std::vector<float> b = dequantize_tensor(*f4, "blk.0.ffn_up.weight");
  ASSERT_EQ(a.size(), b.size());
  double err2 = 0, sig2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err2 += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
    sig2 += static_cast<double>(a[i]) * a[i];
  }
  // Q4_0 on Gaussian rows: relative rms error about 0.1 (16 levels over about +-2.7 sd).
  EXPECT_LT(std::sqrt(err2 / sig2), 0.15);
  EXPECT_GT(std::sqrt(err2 / sig2), 0.02);
  std::filesystem::remove(p32);
  std::filesystem::remove(p4);
}

TEST(MakeModel, CopiesEveryTokenizerKeyOfAVocabFile) {
  const std::string src = testing::test_data_path("models/tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  TANDEM_REQUIRE_DATA(src);
  const std::string path = temp_path("vocab_copy");
  ModelMakerConfig c;
  c.preset = "tiny";
  c.type = "q8_0";
  c.out_path = path;
  c.vocab_path = src;
  Result<MadeModel> made = make_model(c);
  ASSERT_TRUE(made.is_ok()) << made.error().message();
  EXPECT_EQ(made->plan.shape.n_vocab, 32000);

  Result<gguf::File> from = gguf::File::open(src), to = gguf::File::open(path);
  ASSERT_TRUE(from.is_ok() && to.is_ok());
  int copied = 0;
  for (const gguf::KeyValue& kv : from->metadata()) {
    if (!kv.key.starts_with("tokenizer.")) continue;
    const gguf::Value* v = to->find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    EXPECT_TRUE(*v == kv.value) << kv.key;
    ++copied;
  }
  EXPECT_GE(copied, 5);
  for (const gguf::KeyValue& kv : to->metadata())
    if (kv.key.starts_with("tokenizer.")) {
      EXPECT_NE(from->find(kv.key), nullptr) << kv.key << " was not in the source";
    }
  EXPECT_EQ(to->find_tensor("token_embd.weight")->dims, (std::vector<uint64_t>{256, 32000}));

  ContextConfig cfg;
  cfg.n_ctx = 32;
  cfg.n_threads = 1;
  Result<Runtime> rt = open_runtime(path, cfg);
  ASSERT_TRUE(rt.is_ok()) << rt.error().message();
  Result<std::unique_ptr<Tokenizer>> ref = load_tokenizer(*from);
  ASSERT_TRUE(ref.is_ok());
  EXPECT_EQ(rt->tokenizer->encode("Hello world", true, false).value(),
            (*ref)->encode("Hello world", true, false).value());
  std::filesystem::remove(path);
}

TEST(MakeModel, BuildsTheVocabFromATiktokenModel) {
  const std::string src = testing::test_data_path("models/tokenizers/llama3/tokenizer.model");
  TANDEM_REQUIRE_DATA(src);
  const std::string path = temp_path("tiktoken");
  ModelMakerConfig c;
  c.preset = "tiny";
  c.type = "q8_0";
  c.out_path = path;
  c.tiktoken_path = src;
  Result<MadeModel> made = make_model(c);
  ASSERT_TRUE(made.is_ok()) << made.error().message();
  EXPECT_EQ(made->plan.shape.n_vocab, 128256);
  ContextConfig cfg;
  cfg.n_ctx = 32;
  cfg.n_threads = 2;
  Result<Runtime> rt = open_runtime(path, cfg);
  ASSERT_TRUE(rt.is_ok()) << rt.error().message();
  EXPECT_EQ(rt->model->file().get_string("tokenizer.ggml.pre").value(), "llama-bpe");
  // Llama 3: <|begin_of_text|> 128000, "Hello" 9906, " world" 1917.
  EXPECT_EQ(rt->tokenizer->encode("Hello world", true, false).value(),
            (std::vector<int32_t>{128000, 9906, 1917}));
  std::filesystem::remove(path);
}

TEST(MakeModel, ReportsBadInput) {
  ModelMakerConfig good;
  good.preset = "tiny";
  good.type = "q4_0";
  good.out_path = temp_path("errors");

  auto error_of = [](const ModelMakerConfig& c) {
    Result<MadeModel> m = make_model(c);
    EXPECT_FALSE(m.is_ok());
    return m.is_ok() ? Error(Code::kOk) : m.error();
  };
  ModelMakerConfig c = good;
  c.preset = "llama9-1t";
  Error e = error_of(c);
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  EXPECT_NE(e.message().find("llama9-1t"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("llama3.1-8b"), std::string::npos) << e.message();  // lists the known ones

  c = good;
  c.type = "q3_k";
  e = error_of(c);
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
  EXPECT_NE(e.message().find("q3_k"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("q4_k_m"), std::string::npos) << e.message();

  c = good;
  c.vocab_path = "a.gguf";
  c.tiktoken_path = "b.model";
  EXPECT_EQ(error_of(c).code(), Code::kInvalidArgument);

  c = good;
  c.vocab_path = "/nonexistent/vocab.gguf";
  e = error_of(c);
  EXPECT_EQ(e.code(), Code::kNotFound);
  EXPECT_NE(e.message().find("/nonexistent/vocab.gguf"), std::string::npos) << e.message();

  c = good;
  c.out_path = "";
  EXPECT_EQ(error_of(c).code(), Code::kInvalidArgument);

  c = good;
  c.out_path = "/nonexistent-dir/model.gguf";
  e = error_of(c);
  EXPECT_NE(e.message().find("/nonexistent-dir/model.gguf"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("cannot open"), std::string::npos) << e.message();

  c = good;
  c.out_path = ::testing::TempDir();  // a directory
  e = error_of(c);
  EXPECT_EQ(e.code(), Code::kIo) << e.message();
  EXPECT_TRUE(std::filesystem::is_directory(::testing::TempDir()));
  EXPECT_FALSE(std::filesystem::exists(good.out_path));
}

// /dev/full fails every write with ENOSPC, as a full disk does. The error names the
// path and the cause; the device itself is not removed (only partial regular files are).
TEST(MakeModel, AFullDiskIsAnIoError) {
  if (!std::filesystem::is_character_file("/dev/full")) GTEST_SKIP() << "no /dev/full";
  ModelMakerConfig c;
  c.preset = "tiny";
  c.type = "f16";
  c.out_path = "/dev/full";
  Result<MadeModel> m = make_model(c);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.error().code(), Code::kIo) << m.error().message();
  EXPECT_NE(m.error().message().find("/dev/full"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("No space left"), std::string::npos) << m.error().message();
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/full"));
}

}  // namespace
}  // namespace tandem
