// The reference kernels on files llama.cpp wrote: the quantized synthetic models were
// made by llama-quantize (no importance matrix) from their F16 model, so
// 1. dequantizing each tensor must land near the F16 tensor (relative RMS error below
//    the type's bound: proves the block layouts on real data), and
// 2. quantizing the F16 tensor with quantize_row_ref must give llama-quantize's bytes
//    (our weight quantizers follow GGML's reference quantizers operation for operation).
//
// Per-type bounds on ||deq(file) - f16|| / ||f16|| per tensor (whole tensors, so close to
// the mean of the Gaussian round-trip test; measured worst tensor over the 11 files ->
// bound):
//   q8_0 0.0054 -> 0.007   q4_0 0.0864 -> 0.1   q4_1 0.0785 -> 0.09  q5_0 0.0431 -> 0.05
//   q5_1 0.0381 -> 0.045   q4_K 0.0716 -> 0.085 q5_K 0.0363 -> 0.045 q6_K 0.0178 -> 0.022
//   bf16 0.00169 -> 0.002
// Measured: every block of every quantized tensor in the 11 files equals our quantizer's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cpu/quant_ref.h"
#include "storage/gguf.h"
#include "test_data.h"

namespace tandem {
namespace {

struct TypeBound {
  DType type;
  double max_rel_rms;
};
constexpr TypeBound kFileBounds[] = {
    {DType::kQ8_0, 0.007}, {DType::kQ4_0, 0.1},   {DType::kQ4_1, 0.09},  {DType::kQ5_0, 0.05},
    {DType::kQ5_1, 0.045}, {DType::kQ4_K, 0.085}, {DType::kQ5_K, 0.045}, {DType::kQ6_K, 0.022},
    {DType::kBF16, 0.002},
};

double bound_for(DType t) {
  for (const TypeBound& b : kFileBounds)
    if (b.type == t) return b.max_rel_rms;
  return -1;
}

// The whole tensor dequantized, row by row (rows are contiguous, row_bytes apart).
std::vector<float> dequantize_tensor(const gguf::File& f, const gguf::TensorInfo& t) {
  const std::span<const std::byte> data = f.tensor_data(t);
  const auto cols = static_cast<int64_t>(t.dims[0]);
  const size_t row_bytes = cpu::quantized_row_bytes(t.type, cols);
  EXPECT_EQ(data.size(), row_bytes * t.rows()) << f.path() << " " << t.name;
  // Copy into aligned storage: tensor data is 32-byte aligned in the mapping, but keep
  // the test independent of that.
  std::vector<float> raw((data.size() + 3) / 4);
  std::memcpy(raw.data(), data.data(), data.size());
  std::vector<float> out(t.n_elements);
  for (uint64_t r = 0; r < t.rows(); ++r)
    cpu::dequantize_row_ref(t.type, reinterpret_cast<const std::byte*>(raw.data()) + r * row_bytes,
                            out.data() + r * cols, cols);
  return out;
}

struct ModelPair {
  const char* quantized;  // relative to the test data dir
  const char* f16;
};
constexpr ModelPair kPairs[] = {
    {"models/synthetic/tiny-llama-spm512-q8_0.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q4_0.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q4_1.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q5_0.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q5_1.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q4_k_m.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q5_k_m.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-q6_k.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-llama-spm512-bf16.gguf", "models/synthetic/tiny-llama-spm512-f16.gguf"},
    {"models/synthetic/tiny-qwen2-bpe4k-q8_0.gguf", "models/synthetic/tiny-qwen2-bpe4k-f16.gguf"},
    {"models/synthetic/tiny-qwen2-bpe4k-q4_k_m.gguf", "models/synthetic/tiny-qwen2-bpe4k-f16.gguf"},
};

void PrintTo(const ModelPair& p, std::ostream* os) { *os << p.quantized; }

class RealModelFiles : public ::testing::TestWithParam<ModelPair> {};

TEST_P(RealModelFiles, DequantizedTensorsMatchF16AndQuantizerReproducesBytes) {
  const std::string qpath = testing::test_data_path(GetParam().quantized);
  const std::string fpath = testing::test_data_path(GetParam().f16);
  TANDEM_REQUIRE_DATA(qpath);
  TANDEM_REQUIRE_DATA(fpath);
  Result<gguf::File> qf = gguf::File::open(qpath);
  ASSERT_TRUE(qf.is_ok()) << qf.error().message();
  Result<gguf::File> ff = gguf::File::open(fpath);
  ASSERT_TRUE(ff.is_ok()) << ff.error().message();

  int quantized_tensors = 0;
  double worst_rel = 0;
  int64_t blocks_total = 0, blocks_differing = 0;
  for (const gguf::TensorInfo& t : qf->tensors()) {
    const gguf::TensorInfo* ref = ff->find_tensor(t.name);
    ASSERT_NE(ref, nullptr) << qpath << ": tensor " << t.name << " missing from " << fpath;
    ASSERT_EQ(ref->dims, t.dims) << t.name;
    const std::vector<float> want = dequantize_tensor(*ff, *ref);
    const std::vector<float> got = dequantize_tensor(*qf, t);
    if (t.type == ref->type) {  // the F32 norms (and biases) are copied unchanged
      EXPECT_EQ(got, want) << qpath << " " << t.name << " (" << dtype_name(t.type) << ")";
      continue;
    }
    ++quantized_tensors;

    // 1. Values near the F16 source.
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double d = static_cast<double>(got[i]) - want[i];
      num += d * d;
      den += static_cast<double>(want[i]) * want[i];
    }
    const double rel = std::sqrt(num / den);
    const double bound = bound_for(t.type);
    ASSERT_GT(bound, 0) << "no bound for " << dtype_name(t.type);
    EXPECT_LT(rel, bound) << qpath << " " << t.name << " (" << dtype_name(t.type) << ", "
                          << t.n_elements << " elements): relative RMS error vs F16";

    // 2. Our quantizer on the F16 values gives the file's bytes, block for block.
    const auto cols = static_cast<int64_t>(t.dims[0]);
    const size_t row_bytes = cpu::quantized_row_bytes(t.type, cols);
    const std::span<const std::byte> file_bytes = qf->tensor_data(t);
    std::vector<std::byte> mine(row_bytes);
    const int64_t block_bytes = traits(t.type).block_bytes;
    const int64_t blocks_per_row = static_cast<int64_t>(row_bytes) / block_bytes;
    int64_t differing = 0, first_bad_row = -1, first_bad_block = -1;
    for (uint64_t r = 0; r < t.rows(); ++r) {
      cpu::quantize_row_ref(t.type, want.data() + r * cols, mine.data(), cols);
      for (int64_t b = 0; b < blocks_per_row; ++b) {
        if (std::memcmp(mine.data() + b * block_bytes, file_bytes.data() + r * row_bytes + b * block_bytes,
                        static_cast<size_t>(block_bytes)) != 0) {
          if (differing++ == 0) {
            first_bad_row = static_cast<int64_t>(r);
            first_bad_block = b;
          }
        }
      }
    }
    worst_rel = std::max(worst_rel, rel);
    blocks_total += blocks_per_row * static_cast<int64_t>(t.rows());
    blocks_differing += differing;
    EXPECT_EQ(differing, 0) << qpath << " " << t.name << " (" << dtype_name(t.type)
                            << "): quantize_row_ref differs from llama-quantize, first at row "
                            << first_bad_row << " block " << first_bad_block;
  }
  EXPECT_GE(quantized_tensors, 14) << qpath;
  std::printf("  %s: %d quantized tensors, worst relative RMS error vs F16 %.5f, %lld of %lld blocks differ from llama-quantize\n",
              GetParam().quantized, quantized_tensors, worst_rel, static_cast<long long>(blocks_differing),
              static_cast<long long>(blocks_total));
}

INSTANTIATE_TEST_SUITE_P(SyntheticModels, RealModelFiles, ::testing::ValuesIn(kPairs),
                         [](const ::testing::TestParamInfo<ModelPair>& info) {
                           std::string name = info.param.quantized;
                           name = name.substr(name.rfind('/') + 1);
                           name = name.substr(0, name.size() - 5);  // drop ".gguf"
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tandem
