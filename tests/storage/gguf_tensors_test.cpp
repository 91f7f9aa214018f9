// GGUF tensors: infos, data spans, alignment (default and general.alignment), the
// streaming writer against to_bytes, and the writer's and File::open's errors.
#include <filesystem>
#include <gtest/gtest.h>

#include "gguf_raw.h"
#include "storage/gguf.h"

namespace tandem::gguf {
namespace {

struct TensorCase {
  std::string name;
  std::vector<uint64_t> dims;
  DType type;
  uint64_t nbytes;
};

// Tensors of odd sizes, so most need padding after their data.
const std::vector<TensorCase>& cases() {
  static const std::vector<TensorCase> kCases = {
      {"a.f32", {3}, DType::kF32, 12},
      {"b.q4_0", {64, 2}, DType::kQ4_0, 2 * 2 * 18},
      {"c.f16", {5, 1, 3, 1}, DType::kF16, 30},
      {"d.q6_k", {256, 3}, DType::kQ6_K, 3 * 210},
      {"e.q8_0", {32, 1, 1}, DType::kQ8_0, 34},
  };
  return kCases;
}

// Distinct bytes per tensor: byte j of tensor k is (k * 37 + j) mod 251.
std::vector<std::vector<std::byte>> patterns() {
  std::vector<std::vector<std::byte>> out;
  for (size_t k = 0; k < cases().size(); ++k) {
    std::vector<std::byte> d(cases()[k].nbytes);
    for (size_t j = 0; j < d.size(); ++j) d[j] = std::byte((k * 37 + j) % 251);
    out.push_back(std::move(d));
  }
  return out;
}

Writer writer_with_cases(uint64_t alignment) {
  Writer w(3, alignment);
  w.add("general.architecture", Value::str("llama"));
  for (const TensorCase& c : cases()) EXPECT_TRUE(w.add_tensor(c.name, c.dims, c.type).is_ok());
  return w;
}

std::vector<std::byte> bytes_with_cases(uint64_t alignment) {
  Writer w = writer_with_cases(alignment);
  const std::vector<std::vector<std::byte>> data = patterns();
  const std::vector<std::span<const std::byte>> spans(data.begin(), data.end());
  Result<std::vector<std::byte>> bytes = w.to_bytes(spans);
  EXPECT_TRUE(bytes.is_ok()) << bytes.error().message();
  return bytes.is_ok() ? std::move(bytes).value() : std::vector<std::byte>{};
}

void expect_tensors_match_cases(const File& f) {
  const std::vector<std::vector<std::byte>> data = patterns();
  ASSERT_EQ(f.tensors().size(), cases().size());
  for (size_t k = 0; k < cases().size(); ++k) {
    const TensorInfo& t = f.tensors()[k];
    const TensorCase& c = cases()[k];
    EXPECT_EQ(t.name, c.name);
    EXPECT_EQ(t.dims, c.dims);
    EXPECT_EQ(t.type, c.type);
    EXPECT_EQ(t.nbytes, c.nbytes);
    EXPECT_EQ(t.offset % f.alignment(), 0u) << c.name;
    const std::span<const std::byte> got = f.tensor_data(t);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), data[k].begin(), data[k].end())) << c.name;
    EXPECT_EQ(f.find_tensor(c.name), &t);
  }
  EXPECT_EQ(f.find_tensor("missing"), nullptr);
}

class Alignment : public ::testing::TestWithParam<uint64_t> {};

TEST_P(Alignment, TensorSpansAreAlignedAndHoldTheirBytes) {
  const uint64_t alignment = GetParam();
  const std::vector<std::byte> bytes = bytes_with_cases(alignment);
  Result<File> f = File::parse(bytes, "mem.gguf");
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  EXPECT_EQ(f->alignment(), alignment);
  EXPECT_EQ(f->data_offset() % alignment, 0u);
  EXPECT_EQ(f->file_size(), bytes.size());
  expect_tensors_match_cases(*f);
  if (alignment == kDefaultAlignment) {
    EXPECT_EQ(f->find(kAlignmentKey), nullptr);  // the default is not written
  } else {
    ASSERT_NE(f->find(kAlignmentKey), nullptr);
    EXPECT_EQ(*f->find(kAlignmentKey), Value::u32(static_cast<uint32_t>(alignment)));
  }
  // Every tensor's data starts where the previous one's padded data ended.
  uint64_t next = 0;
  for (const TensorInfo& t : f->tensors()) {
    EXPECT_EQ(t.offset, next) << t.name;
    next = (t.offset + t.nbytes + alignment - 1) / alignment * alignment;
  }
  EXPECT_EQ(f->data_offset() + next, bytes.size());
}

INSTANTIATE_TEST_SUITE_P(Gguf, Alignment, ::testing::Values(1u, 8u, 32u, 64u, 4096u));

TEST(GgufTensors, ShapeFacts) {
  const std::vector<std::byte> bytes = bytes_with_cases(32);
  Result<File> f = File::parse(bytes, "mem.gguf");
  ASSERT_TRUE(f.is_ok());
  const TensorInfo* t = f->find_tensor("c.f16");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->n_elements, 15u);
  EXPECT_EQ(t->rows(), 3u);
  EXPECT_EQ(f->find_tensor("d.q6_k")->rows(), 3u);
}

TEST(GgufTensors, StreamingToAFileWritesWhatToBytesMakes) {
  const std::string path = ::testing::TempDir() + "/tandem_gguf_stream_test.gguf";
  Writer w = writer_with_cases(64);
  ASSERT_TRUE(w.open(path).is_ok());
  ASSERT_TRUE(w.write_header().is_ok());
  const std::vector<std::vector<std::byte>> data = patterns();
  for (size_t k = 0; k < cases().size(); ++k) {
    Status s = w.write_tensor_data(cases()[k].name, data[k]);
    ASSERT_TRUE(s.is_ok()) << s.error().message();
  }
  ASSERT_TRUE(w.close().is_ok());

  Result<File> f = File::open(path);
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  EXPECT_EQ(f->path(), path);
  expect_tensors_match_cases(*f);
  const std::vector<std::byte> expected = bytes_with_cases(64);
  ASSERT_EQ(f->file_size(), expected.size());
  // The mapping of the whole file, seen through the first tensor's span.
  const std::byte* base = f->tensor_data(f->tensors()[0]).data() - f->data_offset();
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), base));
  std::filesystem::remove(path);
}

TEST(GgufTensors, WriterRejectsMisSizedOrMisorderedData) {
  const std::string path = ::testing::TempDir() + "/tandem_gguf_bad_stream.gguf";
  Writer w = writer_with_cases(32);
  ASSERT_TRUE(w.open(path).is_ok());
  Status s = w.write_tensor_data("a.f32", std::vector<std::byte>(12));
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.error().message().find("before the header"), std::string::npos);
  ASSERT_TRUE(w.write_header().is_ok());

  s = w.write_tensor_data("b.q4_0", std::vector<std::byte>(72));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_NE(s.error().message().find("tensor #0 \"a.f32\" comes next"), std::string::npos)
      << s.error().message();
  ASSERT_TRUE(w.write_tensor_data("a.f32", std::vector<std::byte>(12)).is_ok());

  s = w.write_tensor_data("b.q4_0", std::vector<std::byte>(71));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.error().message(),
            path + ": tensor \"b.q4_0\" (q4_0, dims {64, 2}) needs 72 bytes, got 71");

  s = w.close();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.error().message().find("closed after 1 of 5 tensors"), std::string::npos)
      << s.error().message();
  std::filesystem::remove(path);

  const std::vector<std::byte> one(12);
  const std::span<const std::byte> spans[] = {one};
  Result<std::vector<std::byte>> bytes = writer_with_cases(32).to_bytes(spans);
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_NE(bytes.error().message().find("got data for 1 tensors, expected 5"), std::string::npos);
}

TEST(GgufTensors, WriterRejectsBadTensorInfos) {
  Writer w;
  ASSERT_TRUE(w.add_tensor("ok", {32}, DType::kQ4_0).is_ok());
  auto message = [&](std::string name, std::vector<uint64_t> dims, DType type) {
    Status s = w.add_tensor(std::move(name), std::move(dims), type);
    EXPECT_FALSE(s.is_ok());
    if (s.is_ok()) return std::string();
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    return s.error().message();
  };
  EXPECT_NE(message("ok", {32}, DType::kF32).find("\"ok\" is a duplicate"), std::string::npos);
  EXPECT_NE(message("r", {33}, DType::kQ4_0).find("row length 33, not a multiple of q4_0's block of 32"),
            std::string::npos);
  EXPECT_NE(message("z", {}, DType::kF32).find("has 0 dims"), std::string::npos);
  EXPECT_NE(message("f", {1, 1, 1, 1, 1}, DType::kF32).find("has 5 dims"), std::string::npos);
  EXPECT_NE(message("d", {4, 0}, DType::kF32).find("dim 1 equal to 0"), std::string::npos);
  EXPECT_NE(message("o", {1ull << 32, 1ull << 32}, DType::kF32).find("overflows"),
            std::string::npos);
  EXPECT_NE(message(std::string(64, 'n'), {1}, DType::kF32).find("longer than 63"),
            std::string::npos);
  EXPECT_NE(message("t", {1}, static_cast<DType>(4)).find("unknown type id 4"), std::string::npos);
  EXPECT_EQ(w.tensors().size(), 1u);
}

TEST(GgufTensors, WriterRejectsBadVersionAndAlignment) {
  for (auto [version, alignment] : {std::pair<uint32_t, uint64_t>{1, 32}, {4, 32}, {3, 48}, {3, 0}}) {
    Writer w(version, alignment);
    Result<std::vector<std::byte>> bytes = w.to_bytes({});
    EXPECT_FALSE(bytes.is_ok()) << "version " << version << " alignment " << alignment;
  }
  Status s = Writer(3, 0).add_tensor("t", {32}, DType::kF32);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.error().message().find("alignment 0 is not a power of two"), std::string::npos);

  Writer w(3, 64);
  w.add(std::string(kAlignmentKey), Value::u32(32));
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_NE(bytes.error().message().find("differs from the writer's alignment 64"),
            std::string::npos) << bytes.error().message();
  w.add(std::string(kAlignmentKey), Value::u32(64));  // agrees now
  EXPECT_TRUE(w.to_bytes({}).is_ok());
}

TEST(GgufTensors, OpenReportsOsErrorsWithThePath) {
  Result<File> missing = File::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message().rfind("/nonexistent/dir/model.gguf: open failed", 0), 0u)
      << missing.error().message();

  Result<File> dir = File::open(::testing::TempDir());
  ASSERT_FALSE(dir.is_ok());
  EXPECT_EQ(dir.error().code(), Code::kIo);

  const std::string empty = ::testing::TempDir() + "/tandem_gguf_empty.gguf";
  std::fclose(std::fopen(empty.c_str(), "wb"));
  Result<File> e = File::open(empty);
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.error().code(), Code::kBadGguf);
  EXPECT_NE(e.error().message().find(empty + ": magic at offset 0 needs 4 bytes"), std::string::npos)
      << e.error().message();
  std::filesystem::remove(empty);
}

TEST(GgufTensors, FileMovesKeepSpansValid) {
  const std::string path = ::testing::TempDir() + "/tandem_gguf_move.gguf";
  const std::vector<std::byte> bytes = bytes_with_cases(32);
  std::FILE* out = std::fopen(path.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), out), bytes.size());
  std::fclose(out);
  Result<File> opened = File::open(path);
  ASSERT_TRUE(opened.is_ok());
  File moved = std::move(opened).value();
  File again = std::move(moved);
  expect_tensors_match_cases(again);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tandem::gguf
