// GGUF metadata: round trips of every value type (v2 and v3), the exact byte encoding,
// typed getters with their conversions and errors, and Value::to_string.
#include <gtest/gtest.h>

#include "gguf_raw.h"
#include "storage/gguf.h"

namespace tandem::gguf {
namespace {

using testing::RawGguf;

File parse_ok(std::span<const std::byte> bytes) {
  Result<File> f = File::parse(bytes, "mem.gguf");
  EXPECT_TRUE(f.is_ok()) << f.error().message();
  return std::move(f).value();
}

std::vector<KeyValue> every_scalar() {
  return {
      {"u8", Value::u8(250)},
      {"i8", Value::i8(-100)},
      {"u16", Value::u16(65000)},
      {"i16", Value::i16(-32000)},
      {"u32", Value::u32(4000000000u)},
      {"i32", Value::i32(-2000000000)},
      {"u64", Value::u64(UINT64_MAX)},
      {"i64", Value::i64(INT64_MIN)},
      {"f32", Value::f32(0.1f)},
      {"f64", Value::f64(-1.0e300)},
      {"bool_true", Value::boolean(true)},
      {"bool_false", Value::boolean(false)},
      {"str", Value::str("héllo\n\"world\"")},
      {"empty_str", Value::str("")},
  };
}

std::vector<KeyValue> every_array() {
  const std::vector<float> floats = {1.5f, -2.25f, 3e-8f};
  const std::vector<int32_t> ints = {-1, 0, 2147483647};
  return {
      {"a_str", Value::str_array({"<unk>", "", "▁the"})},
      {"a_f32", Value::f32_array(floats)},
      {"a_i32", Value::i32_array(ints)},
      {"a_u8", Value::array(ValueType::kU8, {Value::u8(0), Value::u8(255)})},
      {"a_bool", Value::array(ValueType::kBool, {Value::boolean(true), Value::boolean(false)})},
      {"a_u64", Value::array(ValueType::kU64, {Value::u64(1), Value::u64(UINT64_MAX)})},
      {"a_f64", Value::array(ValueType::kF64, {Value::f64(0.5)})},
      {"a_empty", Value::array(ValueType::kI16, {})},
      {"a_nested",
       Value::array(ValueType::kArray,
                    {Value::array(ValueType::kI16, {Value::i16(-7), Value::i16(8)}),
                     Value::array(ValueType::kString, {Value::str("x")}),
                     Value::array(ValueType::kArray,
                                  {Value::array(ValueType::kU32, {Value::u32(42)})}),
                     Value::array(ValueType::kF32, {})})},
  };
}

class ValueRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ValueRoundTrip, EveryValueTypeComesBackEqual) {
  std::vector<KeyValue> kvs = every_scalar();
  for (KeyValue& kv : every_array()) kvs.push_back(std::move(kv));
  Writer w(GetParam());
  for (const KeyValue& kv : kvs) w.add(kv.key, kv.value);
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  ASSERT_TRUE(bytes.is_ok()) << bytes.error().message();

  const File f = parse_ok(*bytes);
  EXPECT_EQ(f.version(), GetParam());
  ASSERT_EQ(f.metadata().size(), kvs.size());
  for (size_t k = 0; k < kvs.size(); ++k) {
    EXPECT_EQ(f.metadata()[k].key, kvs[k].key);
    EXPECT_EQ(f.metadata()[k].value, kvs[k].value) << kvs[k].key << ": got "
                                                   << f.metadata()[k].value.to_string();
  }
  EXPECT_TRUE(f.tensors().empty());
}

INSTANTIATE_TEST_SUITE_P(Versions, ValueRoundTrip, ::testing::Values(2u, 3u));

TEST(GgufValues, EncodingMatchesTheSpecByteForByte) {
  Writer w(3);
  w.add("k", Value::u32(7));
  w.add("s", Value::str_array({"ab"}));
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  ASSERT_TRUE(bytes.is_ok());
  RawGguf raw;
  raw.header(0, 2).kv_u32("k", 7).str("s").u32(9).u32(8).u64(1).str("ab").pad_to(32);
  EXPECT_EQ(*bytes, raw.vec());
}

TEST(GgufValues, V2AndV3DifferOnlyInTheVersionField) {
  std::vector<std::byte> files[2];
  for (uint32_t v : {2u, 3u}) {
    Writer w(v);
    for (const KeyValue& kv : every_array()) w.add(kv.key, kv.value);
    Result<std::vector<std::byte>> bytes = w.to_bytes({});
    ASSERT_TRUE(bytes.is_ok());
    files[v - 2] = std::move(bytes).value();
  }
  ASSERT_EQ(files[0].size(), files[1].size());
  EXPECT_EQ(files[0][4], std::byte{2});
  EXPECT_EQ(files[1][4], std::byte{3});
  files[0][4] = std::byte{3};
  EXPECT_EQ(files[0], files[1]);
}

TEST(GgufValues, ArraysNest64LevelsDeepButNotMore) {
  auto nested = [](int levels) {
    Value v = Value::array(ValueType::kU8, {Value::u8(1)});
    for (int k = 1; k < levels; ++k) v = Value::array(ValueType::kArray, {v});
    return v;
  };
  Writer ok;
  ok.add("deep", nested(kMaxArrayDepth));
  Result<std::vector<std::byte>> bytes = ok.to_bytes({});
  ASSERT_TRUE(bytes.is_ok()) << bytes.error().message();
  EXPECT_EQ(*parse_ok(*bytes).find("deep"), nested(kMaxArrayDepth));

  Writer too_deep;
  too_deep.add("deep", nested(kMaxArrayDepth + 1));
  Result<std::vector<std::byte>> bad = too_deep.to_bytes({});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("deeper than 64"), std::string::npos) << bad.error().message();
}

TEST(GgufValues, WriterAddReplacesAKey) {
  Writer w;
  w.add("a", Value::u32(1));
  w.add("b", Value::u32(2));
  w.add("a", Value::str("again"));
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  ASSERT_TRUE(bytes.is_ok());
  const File f = parse_ok(*bytes);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].key, "a");
  EXPECT_EQ(f.get_string("a").value(), "again");
}

TEST(GgufValues, WriterRejectsArrayItemsOfTheWrongType) {
  Writer w;
  w.add("mixed", Value::array(ValueType::kU32, {Value::u32(1), Value::i32(2)}));
  Result<std::vector<std::byte>> bytes = w.to_bytes({});
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_EQ(bytes.error().code(), Code::kInvalidArgument);
  EXPECT_NE(bytes.error().message().find("\"mixed\""), std::string::npos);
  EXPECT_NE(bytes.error().message().find("item 1 of type i32"), std::string::npos)
      << bytes.error().message();
}

class Getters : public ::testing::Test {
 protected:
  void SetUp() override {
    Writer w;
    for (const KeyValue& kv : every_scalar()) w.add(kv.key, kv.value);
    for (const KeyValue& kv : every_array()) w.add(kv.key, kv.value);
    w.add("small_u64", Value::u64(5));
    w.add("neg_i8", Value::i8(-3));
    w.add("a_u32_big", Value::array(ValueType::kU32, {Value::u32(1), Value::u32(3000000000u)}));
    w.add("a_u16", Value::array(ValueType::kU16, {Value::u16(7), Value::u16(65535)}));
    Result<std::vector<std::byte>> bytes = w.to_bytes({});
    ASSERT_TRUE(bytes.is_ok());
    bytes_ = std::move(bytes).value();
    file_ = std::make_unique<File>(parse_ok(bytes_));
  }
  // The error of `r`, which must have failed with `code`.
  template <typename T>
  static std::string failure(const Result<T>& r, Code code) {
    EXPECT_FALSE(r.is_ok());
    if (r.is_ok()) return {};
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    return r.error().message();
  }
  std::vector<std::byte> bytes_;
  std::unique_ptr<File> file_;
};

TEST_F(Getters, IntegersConvertWhenTheValueFits) {
  const File& f = *file_;
  EXPECT_EQ(f.get_uint("u8").value(), 250u);
  EXPECT_EQ(f.get_uint("u32").value(), 4000000000u);
  EXPECT_EQ(f.get_uint("u64").value(), UINT64_MAX);
  EXPECT_EQ(f.get_int("u16").value(), 65000);
  EXPECT_EQ(f.get_int("i64").value(), INT64_MIN);
  EXPECT_EQ(f.get_int("small_u64").value(), 5);
  EXPECT_EQ(f.get_uint("i16").is_ok(), false);
  EXPECT_EQ(f.get_int("neg_i8").value(), -3);
  EXPECT_DOUBLE_EQ(f.get_float("f32").value(), static_cast<double>(0.1f));
  EXPECT_DOUBLE_EQ(f.get_float("f64").value(), -1.0e300);
  EXPECT_DOUBLE_EQ(f.get_float("i32").value(), -2000000000.0);
  EXPECT_DOUBLE_EQ(f.get_float("u64").value(), 18446744073709551615.0);
  EXPECT_EQ(f.get_bool("bool_true").value(), true);
  EXPECT_EQ(f.get_bool("bool_false").value(), false);
  EXPECT_EQ(f.get_string("str").value(), "héllo\n\"world\"");
}

TEST_F(Getters, OutOfRangeAndMismatchedTypesNameKeyAndTypes) {
  const File& f = *file_;
  std::string m = failure(f.get_uint("neg_i8"), Code::kBadGguf);
  EXPECT_NE(m.find("mem.gguf: metadata key \"neg_i8\" = -3 is negative"), std::string::npos) << m;
  m = failure(f.get_int("u64"), Code::kBadGguf);
  EXPECT_NE(m.find("\"u64\" = 18446744073709551615 does not fit in i64"), std::string::npos) << m;
  m = failure(f.get_uint("f32"), Code::kBadGguf);
  EXPECT_NE(m.find("\"f32\" is f32, expected an unsigned integer"), std::string::npos) << m;
  m = failure(f.get_string("u32"), Code::kBadGguf);
  EXPECT_NE(m.find("\"u32\" is u32, expected string"), std::string::npos) << m;
  m = failure(f.get_bool("u8"), Code::kBadGguf);
  EXPECT_NE(m.find("is u8, expected bool"), std::string::npos) << m;
  m = failure(f.get_float("str"), Code::kBadGguf);
  EXPECT_NE(m.find("is string, expected a number"), std::string::npos) << m;
  m = failure(f.get_int("bool_true"), Code::kBadGguf);
  EXPECT_NE(m.find("is bool, expected an integer"), std::string::npos) << m;
  m = failure(f.get_string("nope"), Code::kNotFound);
  EXPECT_EQ(m, "mem.gguf: metadata key \"nope\" not found");
}

TEST_F(Getters, Arrays) {
  const File& f = *file_;
  EXPECT_EQ(f.get_string_array("a_str").value(), (std::vector<std::string>{"<unk>", "", "▁the"}));
  EXPECT_EQ(f.get_f32_array("a_f32").value(), (std::vector<float>{1.5f, -2.25f, 3e-8f}));
  EXPECT_EQ(f.get_f32_array("a_f64").value(), (std::vector<float>{0.5f}));
  EXPECT_EQ(f.get_i32_array("a_i32").value(), (std::vector<int32_t>{-1, 0, 2147483647}));
  EXPECT_EQ(f.get_i32_array("a_u16").value(), (std::vector<int32_t>{7, 65535}));
  EXPECT_TRUE(f.get_i32_array("a_empty").value().empty());

  std::string m = failure(f.get_i32_array("a_u32_big"), Code::kBadGguf);
  EXPECT_NE(m.find("item 1 = 3000000000 does not fit in i32"), std::string::npos) << m;
  m = failure(f.get_string_array("a_f32"), Code::kBadGguf);
  EXPECT_NE(m.find("is array of f32, expected array of string"), std::string::npos) << m;
  m = failure(f.get_f32_array("u32"), Code::kBadGguf);
  EXPECT_NE(m.find("is u32, expected array of f32"), std::string::npos) << m;
  m = failure(f.get_i32_array("a_nested"), Code::kBadGguf);
  EXPECT_NE(m.find("is array of array, expected array of i32"), std::string::npos) << m;
}

TEST(GgufValues, ToString) {
  EXPECT_EQ(Value::u32(7).to_string(), "7");
  EXPECT_EQ(Value::i8(-3).to_string(), "-3");
  EXPECT_EQ(Value::u64(UINT64_MAX).to_string(), "18446744073709551615");
  EXPECT_EQ(Value::f32(0.1f).to_string(), "0.1");
  EXPECT_EQ(Value::f32(1e-5f).to_string(), "1e-05");
  EXPECT_EQ(Value::f64(0.1).to_string(), "0.1");
  EXPECT_EQ(Value::boolean(true).to_string(), "true");
  EXPECT_EQ(Value::str("a\nb\"c\\").to_string(), R"("a\nb\"c\\")");
  EXPECT_EQ(Value::str("▁the").to_string(), "\"▁the\"");          // valid UTF-8 kept
  EXPECT_EQ(Value::str("\xff\x01").to_string(), R"("\xff\x01")");   // bytes escaped
  EXPECT_EQ(Value::str_array({"a", "b", "c", "d", "e"}).to_string(2),
            R"(["a", "b", ... (3 more)])");
  EXPECT_EQ(Value::str_array({"a"}).to_string(0), "[... (1 more)]");
  EXPECT_EQ(Value::array(ValueType::kArray, {Value::array(ValueType::kU8, {Value::u8(1)}),
                                             Value::array(ValueType::kU8, {})})
                .to_string(),
            "[[1], []]");
  EXPECT_STREQ(value_type_name(ValueType::kArray), "array");
  EXPECT_STREQ(value_type_name(static_cast<ValueType>(77)), "?");
}

}  // namespace
}  // namespace tandem::gguf
