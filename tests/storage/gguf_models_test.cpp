// The shared GGUF files (written by llama.cpp's tools): every one parses, and known
// facts about them hold (shared/models/README.md, shared/golden/README.md).
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <gtest/gtest.h>

#include "core/fp16.h"
#include "storage/gguf.h"
#include "test_data.h"

namespace tandem::gguf {
namespace {

using tandem::testing::test_data_path;

File open_ok(const std::string& path) {
  Result<File> f = File::open(path);
  EXPECT_TRUE(f.is_ok()) << f.error().message();
  return std::move(f).value();
}

std::map<DType, int> type_counts(const File& f) {
  std::map<DType, int> counts;
  for (const TensorInfo& t : f.tensors()) ++counts[t.type];
  return counts;
}

TEST(GgufModels, EverySharedFileParses) {
  const std::string dir = test_data_path("models");
  TANDEM_REQUIRE_DATA(dir);
  int n_files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    ++n_files;
    const File f = open_ok(entry.path().string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_TRUE(f.get_string("general.architecture").is_ok() ||
                f.get_string("tokenizer.ggml.model").is_ok());
    uint64_t data_bytes = 0;
    for (const TensorInfo& t : f.tensors()) {
      const std::span<const std::byte> data = f.tensor_data(t);
      EXPECT_EQ(data.size(), t.nbytes);
      EXPECT_EQ((data.data() - f.tensor_data(f.tensors()[0]).data()) % f.alignment(), 0);
      data_bytes += t.nbytes;
    }
    if (!f.tensors().empty()) {
      EXPECT_LE(f.data_offset() + data_bytes, f.file_size());
    }
  }
  EXPECT_GE(n_files, 20);
}

TEST(GgufModels, Stories260KFacts) {
  const std::string path = test_data_path("models/stories260K.gguf");
  TANDEM_REQUIRE_DATA(path);
  const File f = open_ok(path);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_uint("llama.block_count").value(), 5u);
  EXPECT_EQ(f.get_uint("llama.embedding_length").value(), 64u);
  EXPECT_EQ(f.get_uint("llama.attention.head_count").value(), 8u);
  EXPECT_EQ(f.get_uint("llama.attention.head_count_kv").value(), 4u);
  const std::vector<std::string> tokens = f.get_string_array("tokenizer.ggml.tokens").value();
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(f.get_f32_array("tokenizer.ggml.scores").value().size(), 512u);
  const std::vector<int32_t> types = f.get_i32_array("tokenizer.ggml.token_type").value();
  ASSERT_EQ(types.size(), 512u);
  EXPECT_EQ(types[0], 2);  // unknown
  EXPECT_EQ(types[1], 3);  // control
  EXPECT_EQ(types[3], 6);  // byte
  EXPECT_EQ(f.get_uint("tokenizer.ggml.bos_token_id").value(), 1u);

  const TensorInfo* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dims, (std::vector<uint64_t>{64, 512}));
  EXPECT_EQ(emb->type, DType::kF32);
  EXPECT_EQ(emb->nbytes, 64u * 512u * 4u);
  ASSERT_NE(f.find_tensor("output.weight"), nullptr);  // untied
  EXPECT_EQ(type_counts(f), (std::map<DType, int>{{DType::kF32, 48}}));
}

struct TypeTable {
  const char* file;
  std::map<DType, int> counts;
};

class GoldenTensorTypes : public ::testing::TestWithParam<TypeTable> {};

// shared/golden/README.md "Tensor types", plus the F32 norms (2 per layer + output_norm)
// and, in qwen2, the F32 q/k/v biases.
TEST_P(GoldenTensorTypes, MatchTheReadme) {
  const std::string path = test_data_path(std::string("models/synthetic/") + GetParam().file);
  TANDEM_REQUIRE_DATA(path);
  const File f = open_ok(path);
  EXPECT_EQ(type_counts(f), GetParam().counts);
}

INSTANTIATE_TEST_SUITE_P(
    Synthetic, GoldenTensorTypes,
    ::testing::Values(
        TypeTable{"tiny-llama-spm512-f16.gguf", {{DType::kF16, 15}, {DType::kF32, 5}}},
        TypeTable{"tiny-qwen2-bpe4k-f16.gguf", {{DType::kF16, 15}, {DType::kF32, 11}}},
        TypeTable{"tiny-llama-spm512-q8_0.gguf", {{DType::kQ8_0, 15}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-q4_0.gguf",
                  {{DType::kQ4_0, 14}, {DType::kQ6_K, 1}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-q4_k_m.gguf",
                  {{DType::kQ4_K, 12}, {DType::kQ6_K, 3}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-q5_k_m.gguf",
                  {{DType::kQ5_K, 12}, {DType::kQ6_K, 3}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-q6_k.gguf", {{DType::kQ6_K, 15}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-untied-q4_k_m.gguf",
                  {{DType::kQ4_K, 13}, {DType::kQ6_K, 3}, {DType::kF32, 5}}},
        TypeTable{"tiny-llama-spm512-bf16.gguf", {{DType::kBF16, 15}, {DType::kF32, 5}}}),
    [](const ::testing::TestParamInfo<TypeTable>& info) {
      std::string name = info.param.file;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

TEST(GgufModels, Q4_0FileTensorsPointAtTheirData) {
  const std::string path = test_data_path("models/synthetic/tiny-llama-spm512-q4_0.gguf");
  TANDEM_REQUIRE_DATA(path);
  const File f = open_ok(path);
  ASSERT_EQ(f.tensors().size(), 20u);
  EXPECT_EQ(f.find_tensor("token_embd.weight")->type, DType::kQ6_K);
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->type, DType::kQ4_0);
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);  // tied

  // Norm weights are 1 + N(0, 0.1^2) clipped to [0.5, 1.5]: read them through the span.
  const TensorInfo* norm = f.find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  ASSERT_EQ(norm->dims, (std::vector<uint64_t>{256}));
  const std::span<const std::byte> bytes = f.tensor_data(*norm);
  double sum = 0;
  for (size_t k = 0; k < 256; ++k) {
    float w;
    std::memcpy(&w, bytes.data() + 4 * k, 4);
    ASSERT_GE(w, 0.5f) << k;
    ASSERT_LE(w, 1.5f) << k;
    sum += w;
  }
  EXPECT_NEAR(sum / 256, 1.0, 0.03);

  // Q4_0 blocks (18 bytes) start with an fp16 scale d (signed: max / -8): finite and nonzero in random weights.
  const TensorInfo* q = f.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dims, (std::vector<uint64_t>{256, 256}));
  EXPECT_EQ(q->nbytes, 256u * 8u * 18u);
  const std::span<const std::byte> qb = f.tensor_data(*q);
  for (size_t blk = 0; blk < q->nbytes / 18; blk += 97) {
    uint16_t h;
    std::memcpy(&h, qb.data() + blk * 18, 2);
    const float d = fp16_to_f32(h);
    EXPECT_TRUE(std::isfinite(d) && d != 0.0f && std::fabs(d) < 1.0f) << "block " << blk << " d=" << d;
  }
}

}  // namespace
}  // namespace tandem::gguf
