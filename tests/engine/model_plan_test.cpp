// make-model's plans, checked without writing weights: the big presets have the
// parameter counts of the real models, the tensor types follow llama.cpp's quantizer
// (the golden README lists what llama-quantize gave the tiny synthetic models), rows
// that K-quants cannot hold fall back as llama.cpp does, and the Llama 3.1 rope factors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>
#include <set>
#include <string>

#include "engine/model_file_type.h"
#include "engine/model_plan.h"
#include "engine/model_presets.h"

namespace tandem {
namespace {

ModelPlan plan_for(const std::string& preset, const std::string& type) {
  Result<ModelShape> s = find_preset(preset);
  EXPECT_TRUE(s.is_ok()) << preset;
  Result<ModelFileType> ft = parse_model_file_type(type);
  EXPECT_TRUE(ft.is_ok()) << type;
  Result<ModelPlan> p = plan_model(*s, *ft, {}, s->n_vocab, 1);
  EXPECT_TRUE(p.is_ok()) << p.error().message();
  return std::move(p).value();
}

const PlannedTensor& tensor(const ModelPlan& p, const std::string& name) {
  for (const PlannedTensor& t : p.tensors)
    if (t.name == name) return t;
  ADD_FAILURE() << "no tensor " << name;
  return p.tensors.front();
}

std::map<DType, int> type_counts(const ModelPlan& p) {
  std::map<DType, int> n;
  for (const PlannedTensor& t : p.tensors)
    if (t.dims.size() == 2) ++n[t.type];
  return n;
}

// Parameter counts of the published models (Hugging Face), which do not count the
// rope_freqs tensor GGUF files add.
TEST(ModelPlan, PresetsHaveTheRealModelsParameterCounts) {
  const std::map<std::string, uint64_t> params = {
      {"llama3.2-1b", 1235814400ull},
      {"llama2-7b", 6738415616ull},
      {"llama3.1-8b", 8030261248ull},
      {"qwen2.5-0.5b", 494032768ull},
  };
  for (const auto& [preset, n] : params) {
    const ModelPlan p = plan_for(preset, "f16");
    uint64_t total = 0;
    for (const PlannedTensor& t : p.tensors)
      if (t.name != "rope_freqs.weight") total += t.n_elements();
    EXPECT_EQ(total, n) << preset;
  }
}

TEST(ModelPlan, Llama31_8bQ4_0HasTheShapesAndSizeOfTheRealFile) {
  const ModelPlan p = plan_for("llama3.1-8b", "q4_0");
  EXPECT_EQ(p.tensors.size(), 1u + 1u + 32u * 9u + 2u);
  EXPECT_EQ(tensor(p, "token_embd.weight").dims, (std::vector<uint64_t>{4096, 128256}));
  EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ4_0);  // untied: the base type
  EXPECT_EQ(tensor(p, "output.weight").type, DType::kQ6_K);
  EXPECT_EQ(tensor(p, "blk.31.attn_k.weight").dims, (std::vector<uint64_t>{4096, 1024}));
  EXPECT_EQ(tensor(p, "blk.0.ffn_down.weight").dims, (std::vector<uint64_t>{14336, 4096}));
  EXPECT_EQ(tensor(p, "rope_freqs.weight").dims, (std::vector<uint64_t>{64}));
  EXPECT_EQ(tensor(p, "rope_freqs.weight").type, DType::kF32);
  // 7,504,658,432 Q4_0 weights at 18 bytes per 32, a 4096 x 128256 Q6_K output at 210
  // per 256, 65 f32 norms of 4096 and 64 rope factors: 4,653,375,744 bytes (4.33 GiB).
  EXPECT_EQ(p.data_bytes(), 4653375744ull);
  EXPECT_TRUE(p.notes.empty());
}

TEST(ModelPlan, MetadataCarriesTheHyperparametersLlamaCppReads) {
  const ModelPlan p = plan_for("llama3.2-1b", "q4_k_m");
  std::map<std::string, gguf::Value> kv;
  for (const gguf::KeyValue& e : p.metadata) kv[e.key] = e.value;
  EXPECT_EQ(kv["general.architecture"].s, "llama");
  EXPECT_EQ(kv["general.file_type"].u, 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(kv["llama.context_length"].u, 131072u);
  EXPECT_EQ(kv["llama.embedding_length"].u, 2048u);
  EXPECT_EQ(kv["llama.block_count"].u, 16u);
  EXPECT_EQ(kv["llama.feed_forward_length"].u, 8192u);
  EXPECT_EQ(kv["llama.attention.head_count"].u, 32u);
  EXPECT_EQ(kv["llama.attention.head_count_kv"].u, 8u);
  EXPECT_EQ(kv["llama.rope.dimension_count"].u, 64u);
  EXPECT_EQ(kv["llama.rope.freq_base"].f, 500000.0);
  EXPECT_EQ(kv["llama.rope.freq_base"].type, gguf::ValueType::kF32);
  EXPECT_FLOAT_EQ(static_cast<float>(kv["llama.attention.layer_norm_rms_epsilon"].f), 1e-5f);
  const ModelPlan q = plan_for("qwen2.5-0.5b", "f16");
  bool has_arch = false;
  for (const gguf::KeyValue& e : q.metadata) {
    if (e.key == "general.architecture") has_arch = e.value.s == "qwen2";
    if (e.key == "qwen2.attention.layer_norm_rms_epsilon") {
      EXPECT_FLOAT_EQ(static_cast<float>(e.value.f), 1e-6f);
    }
  }
  EXPECT_TRUE(has_arch);
  EXPECT_EQ(tensor(q, "blk.23.attn_v.bias").dims, (std::vector<uint64_t>{128}));
}

TEST(ModelPlan, FileTypeNumbersAreLlamaCpps) {
  const std::map<std::string, uint32_t> ftype = {
      {"f32", 0},  {"f16", 1},  {"q4_0", 2},  {"q4_1", 3},    {"q8_0", 7},    {"q5_0", 8},  {"q5_1", 9},
      {"q4_k", 14}, {"q5_k", 16}, {"q6_k", 18}, {"q4_k_m", 15}, {"q5_k_m", 17}, {"bf16", 32},
      {"q2_k", 10}, {"q3_k_m", 12},
  };
  for (const auto& [name, n] : ftype) EXPECT_EQ(parse_model_file_type(name)->llama_ftype, n) << name;
  EXPECT_EQ(model_file_type_names().size(), ftype.size());
  EXPECT_EQ(parse_model_file_type("Q4_K_M")->name, "q4_k_m");
}

// What llama-quantize gave the golden tiny models (shared/golden/README.md, "Tensor
// types"), for our 2-layer tiny preset.
TEST(ModelPlan, TinyTypesMatchWhatLlamaQuantizeGaveTheGoldenModels) {
  {
    const ModelPlan p = plan_for("tiny", "q4_k_m");
    EXPECT_EQ(type_counts(p), (std::map<DType, int>{{DType::kQ4_K, 12}, {DType::kQ6_K, 3}}));
    for (const std::string n : {"token_embd.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight"})
      EXPECT_EQ(tensor(p, n).type, DType::kQ6_K) << n;
  }
  {
    const ModelPlan p = plan_for("tiny", "q5_k_m");
    EXPECT_EQ(type_counts(p), (std::map<DType, int>{{DType::kQ5_K, 12}, {DType::kQ6_K, 3}}));
  }
  {
    const ModelPlan p = plan_for("tiny", "q4_0");  // tied embedding quantized like an output
    EXPECT_EQ(type_counts(p), (std::map<DType, int>{{DType::kQ4_0, 14}, {DType::kQ6_K, 1}}));
    EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ6_K);
  }
  EXPECT_EQ(type_counts(plan_for("tiny", "q8_0")), (std::map<DType, int>{{DType::kQ8_0, 15}}));
  EXPECT_EQ(type_counts(plan_for("tiny", "q6_k")), (std::map<DType, int>{{DType::kQ6_K, 15}}));
  EXPECT_EQ(type_counts(plan_for("tiny", "f16")), (std::map<DType, int>{{DType::kF16, 15}}));
  EXPECT_EQ(type_counts(plan_for("tiny", "bf16")), (std::map<DType, int>{{DType::kBF16, 15}}));
  for (const PlannedTensor& t : plan_for("tiny", "q4_k_m").tensors)
    if (t.dims.size() == 1) {
      EXPECT_EQ(t.type, DType::kF32) << t.name;
    }
}

TEST(ModelPlan, Q4_K_MGivesQ6_KToTheLayersUseMoreBitsPicks) {
  const ModelPlan p = plan_for("llama3.1-8b", "q4_k_m");
  // n = 32: i < 4, i >= 28, or (i - 4) % 3 == 2.
  const std::set<int> more = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int i = 0; i < 32; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const DType want = more.count(i) ? DType::kQ6_K : DType::kQ4_K;
    EXPECT_EQ(tensor(p, b + "attn_v.weight").type, want) << i;
    EXPECT_EQ(tensor(p, b + "ffn_down.weight").type, want) << i;
    for (const std::string n : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"})
      EXPECT_EQ(tensor(p, b + n + ".weight").type, DType::kQ4_K) << b << n;
  }
  EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ4_K);  // untied: not an output
  EXPECT_EQ(tensor(p, "output.weight").type, DType::kQ6_K);
  // 16 layers (llama3.2-1b): i < 2, i >= 14, or (i - 2) % 3 == 2.
  const ModelPlan small = plan_for("llama3.2-1b", "q5_k_m");
  const std::set<int> more16 = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(tensor(small, "blk." + std::to_string(i) + ".ffn_down.weight").type,
              more16.count(i) ? DType::kQ6_K : DType::kQ5_K) << i;
  EXPECT_EQ(tensor(small, "token_embd.weight").type, DType::kQ6_K);  // tied
  EXPECT_TRUE(!tensor(small, "rope_freqs.weight").values.empty());
}

// Qwen2.5-0.5B: n_embd 896 is not a multiple of 256; llama.cpp gives such rows Q5_0
// (for Q4_K), Q5_1 (Q5_K) or Q8_0 (Q6_K). ffn_down rows are 4864 = 19 * 256 wide.
TEST(ModelPlan, RowsKQuantsCannotHoldFallBackAsInLlamaCpp) {
  const ModelPlan p = plan_for("qwen2.5-0.5b", "q4_k_m");
  EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ8_0);  // tied output of 896-wide rows
  EXPECT_EQ(tensor(p, "blk.5.attn_q.weight").type, DType::kQ5_0);
  EXPECT_EQ(tensor(p, "blk.5.attn_q.weight").wanted, DType::kQ4_K);
  EXPECT_EQ(tensor(p, "blk.0.attn_v.weight").type, DType::kQ8_0);  // Q6_K wanted (use_more_bits)
  EXPECT_EQ(tensor(p, "blk.4.attn_v.weight").type, DType::kQ5_0);  // Q4_K wanted
  EXPECT_EQ(tensor(p, "blk.4.ffn_down.weight").type, DType::kQ4_K);
  EXPECT_EQ(tensor(p, "blk.5.ffn_down.weight").type, DType::kQ6_K);  // (5 - 24/8) % 3 == 2
  EXPECT_EQ(tensor(p, "blk.5.attn_q.bias").type, DType::kF32);
  ASSERT_EQ(p.notes.size(), 2u);  // q4_K -> q5_0 and q6_K -> q8_0, for rows of 896
  for (const std::string& n : p.notes) EXPECT_NE(n.find("896"), std::string::npos) << n;

  const ModelPlan q5 = plan_for("qwen2.5-0.5b", "q5_k");
  EXPECT_EQ(tensor(q5, "blk.0.ffn_up.weight").type, DType::kQ5_1);
  const ModelPlan q40 = plan_for("qwen2.5-0.5b", "q4_0");
  EXPECT_EQ(tensor(q40, "token_embd.weight").wanted, DType::kQ6_K);
  EXPECT_EQ(tensor(q40, "token_embd.weight").type, DType::kQ8_0);
  EXPECT_EQ(tensor(q40, "blk.0.ffn_up.weight").type, DType::kQ4_0);  // 896 % 32 == 0
}

TEST(ModelPlan, MatrixTypeFallsBackToF16WhenNothingFits) {
  const ModelFileType q40 = parse_model_file_type("q4_0").value();
  const MatrixTypeChoice c = matrix_type(q40, MatrixRole::kFfnUp, 0, 1, false, 100, 1);
  EXPECT_EQ(c.wanted, DType::kQ4_0);
  EXPECT_EQ(c.type, DType::kF16);
  const ModelFileType q4km = parse_model_file_type("q4_k_m").value();
  EXPECT_EQ(matrix_type(q4km, MatrixRole::kAttnQ, 0, 8, false, 96, 1).type, DType::kQ5_0);
  EXPECT_EQ(matrix_type(q4km, MatrixRole::kAttnQ, 0, 8, false, 80, 1).type, DType::kF16);
  EXPECT_EQ(matrix_type(q4km, MatrixRole::kOutput, -1, 8, false, 80, 1).type, DType::kF16);
  // Q2_K and Q3_K fall back to Q4_0, then F16.
  const ModelFileType q2k = parse_model_file_type("q2_k").value();
  EXPECT_EQ(matrix_type(q2k, MatrixRole::kFfnUp, 0, 8, false, 96, 1).type, DType::kQ4_0);
  EXPECT_EQ(matrix_type(q2k, MatrixRole::kFfnDown, 0, 8, false, 96, 1).wanted, DType::kQ3_K);
  EXPECT_EQ(matrix_type(q2k, MatrixRole::kFfnDown, 0, 8, false, 96, 1).type, DType::kQ4_0);
  EXPECT_EQ(matrix_type(q2k, MatrixRole::kFfnUp, 0, 8, false, 80, 1).type, DType::kF16);
}

// llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q2_K and _Q3_K_M on dense models: the
// matrices that get more bits, by role, layer and n_head / n_head_kv.
TEST(ModelPlan, Q2_KAndQ3_K_MFollowLlamaCppsRules) {
  {
    const ModelPlan p = plan_for("llama3.1-8b", "q2_k");  // n_gqa = 32 / 8 = 4
    for (int i = 0; i < 32; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      EXPECT_EQ(tensor(p, b + "attn_v.weight").type, DType::kQ4_K) << i;
      EXPECT_EQ(tensor(p, b + "attn_output.weight").type, DType::kQ3_K) << i;
      EXPECT_EQ(tensor(p, b + "ffn_down.weight").type, DType::kQ3_K) << i;
      for (const std::string n : {"attn_q", "attn_k", "ffn_gate", "ffn_up"})
        EXPECT_EQ(tensor(p, b + n + ".weight").type, DType::kQ2_K) << b << n;
    }
    EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ2_K);  // untied: the base type
    EXPECT_EQ(tensor(p, "output.weight").type, DType::kQ6_K);
    EXPECT_TRUE(p.notes.empty());
  }
  // n_gqa = 1: attn_v gets Q3_K.
  EXPECT_EQ(tensor(plan_for("llama2-7b", "q2_k"), "blk.7.attn_v.weight").type, DType::kQ3_K);
  {
    const ModelPlan p = plan_for("llama3.1-8b", "q3_k_m");  // n / 16 = 2
    for (int i = 0; i < 32; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      const DType more = i < 2 ? DType::kQ5_K : DType::kQ4_K;
      EXPECT_EQ(tensor(p, b + "attn_v.weight").type, more) << i;  // i_attention_wv < 2
      EXPECT_EQ(tensor(p, b + "ffn_down.weight").type, more) << i;
      EXPECT_EQ(tensor(p, b + "attn_output.weight").type, DType::kQ4_K) << i;
      for (const std::string n : {"attn_q", "attn_k", "ffn_gate", "ffn_up"})
        EXPECT_EQ(tensor(p, b + n + ".weight").type, DType::kQ3_K) << b << n;
    }
    EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ3_K);
    EXPECT_EQ(tensor(p, "output.weight").type, DType::kQ6_K);
  }
  // The tiny preset (2 layers, n_gqa 2, tied embedding quantized like an output).
  EXPECT_EQ(type_counts(plan_for("tiny", "q2_k")),
            (std::map<DType, int>{{DType::kQ2_K, 8}, {DType::kQ3_K, 6}, {DType::kQ6_K, 1}}));
  EXPECT_EQ(type_counts(plan_for("tiny", "q3_k_m")),
            (std::map<DType, int>{{DType::kQ3_K, 8}, {DType::kQ4_K, 4}, {DType::kQ5_K, 2}, {DType::kQ6_K, 1}}));
}

// Qwen2.5-0.5B rows of 896 cannot hold Q2_K/Q3_K: Q4_0 as in llama.cpp (896 % 32 == 0).
TEST(ModelPlan, Q2_KRowsThatDoNotFitFallBackToQ4_0) {
  const ModelPlan p = plan_for("qwen2.5-0.5b", "q2_k");  // n_gqa = 14 / 2 = 7
  EXPECT_EQ(tensor(p, "blk.3.attn_q.weight").type, DType::kQ4_0);
  EXPECT_EQ(tensor(p, "blk.3.attn_q.weight").wanted, DType::kQ2_K);
  EXPECT_EQ(tensor(p, "blk.3.attn_v.weight").wanted, DType::kQ4_K);
  EXPECT_EQ(tensor(p, "blk.3.attn_v.weight").type, DType::kQ5_0);
  EXPECT_EQ(tensor(p, "blk.3.attn_output.weight").type, DType::kQ4_0);  // Q3_K wanted
  EXPECT_EQ(tensor(p, "blk.3.ffn_down.weight").type, DType::kQ3_K);     // rows of 4864 = 19 * 256
  EXPECT_EQ(tensor(p, "token_embd.weight").type, DType::kQ8_0);         // tied output, 896
  ASSERT_EQ(p.notes.size(), 3u);  // q2_K -> q4_0, q3_K -> q4_0, q4_K -> q5_0, for rows of 896
  const ModelPlan m = plan_for("qwen2.5-0.5b", "q3_k_m");
  EXPECT_EQ(tensor(m, "blk.0.attn_v.weight").wanted, DType::kQ5_K);
  EXPECT_EQ(tensor(m, "blk.0.attn_v.weight").type, DType::kQ5_1);
  EXPECT_EQ(tensor(m, "blk.0.ffn_down.weight").type, DType::kQ5_K);  // 0 < 24 / 16
  EXPECT_EQ(tensor(m, "blk.1.ffn_down.weight").type, DType::kQ4_K);
}

TEST(ModelPlan, UseMoreBitsIsLlamaCpps) {
  std::vector<int> picked;
  for (int i = 0; i < 8; ++i)
    if (use_more_bits(i, 8)) picked.push_back(i);
  EXPECT_EQ(picked, (std::vector<int>{0, 3, 6, 7}));  // n/8 = 1, 7n/8 = 7
  EXPECT_FALSE(use_more_bits(0, 2));
  EXPECT_TRUE(use_more_bits(1, 2));
}

// The Llama 3.1 scaling: factors 1 for wavelengths under 8192/4 = 2048 positions,
// `factor` over 8192, smooth in between.
TEST(ModelPlan, Llama3RopeFactors) {
  const Llama3RopeScaling s{8.0, 1.0, 4.0, 8192};
  const std::vector<float> f = llama3_rope_factors(s, 128, 500000.f);
  ASSERT_EQ(f.size(), 64u);
  int ones = 0, full = 0, between = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double freq = std::pow(500000.0, -2.0 * static_cast<double>(i) / 128);
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < 2048) {
      EXPECT_EQ(f[i], 1.0f) << i;
      ++ones;
    } else if (wavelen > 8192) {
      EXPECT_EQ(f[i], 8.0f) << i;
      ++full;
    } else {
      // new_freq = (1 - smooth) freq / 8 + smooth freq, smooth = (8192/wavelen - 1) / 3.
      const double smooth = (8192 / wavelen - 1) / 3;
      const double new_freq = (1 - smooth) * freq / 8 + smooth * freq;
      EXPECT_NEAR(f[i], freq / new_freq, 1e-5) << i;
      EXPECT_GT(f[i], 1.0f);
      EXPECT_LT(f[i], 8.0f);
      ++between;
    }
    if (i > 0) {
      EXPECT_GE(f[i], f[i - 1]);
    }
  }
  // 2 pi 500000^(i/64) passes 2048 after i = 28 and 8192 after i = 34.
  EXPECT_EQ(ones, 29);
  EXPECT_EQ(between, 6);
  EXPECT_EQ(full, 29);
  const std::vector<float> f32 = llama3_rope_factors(Llama3RopeScaling{32.0, 1.0, 4.0, 8192}, 64, 500000.f);
  EXPECT_EQ(f32.back(), 32.0f);
  EXPECT_EQ(f32.front(), 1.0f);
}

TEST(ModelPlan, UnknownPresetAndBadShapesAreErrors) {
  Result<ModelShape> s = find_preset("gpt-5");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.error().message().find("tiny"), std::string::npos);
  ModelShape bad = find_preset("tiny").value();
  bad.n_head = 3;  // 256 % 3 != 0
  Result<ModelPlan> p = plan_model(bad, parse_model_file_type("f16").value(), {}, 512, 1);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.error().message().find("n_head"), std::string::npos) << p.error().message();
  bad = find_preset("tiny").value();
  bad.n_head_kv = 3;
  EXPECT_FALSE(plan_model(bad, parse_model_file_type("f16").value(), {}, 512, 1).is_ok());
}

}  // namespace
}  // namespace tandem
