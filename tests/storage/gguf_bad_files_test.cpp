// Malformed GGUF files: each must give a kBadGguf error that names the file and says
// what and where; none may crash or allocate by a hostile count.
#include <gtest/gtest.h>

#include "gguf_raw.h"
#include "storage/gguf.h"

namespace tandem::gguf {
namespace {

using testing::RawGguf;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4_0 = 2;

// Parses `bytes` as "bad.gguf", expects kBadGguf, and returns the message.
std::string bad(std::span<const std::byte> bytes) {
  Result<File> f = File::parse(bytes, "bad.gguf");
  EXPECT_FALSE(f.is_ok());
  if (f.is_ok()) return "(parsed)";
  EXPECT_EQ(f.error().code(), Code::kBadGguf) << f.error().message();
  EXPECT_EQ(f.error().message().rfind("bad.gguf: ", 0), 0u) << f.error().message();
  return f.error().message();
}

#define EXPECT_CONTAINS(haystack, needle)                                  \
  do {                                                                     \
    const std::string haystack_ = (haystack);                              \
    EXPECT_NE(haystack_.find(needle), std::string::npos) << "in: " << haystack_; \
  } while (0)

// A small valid file with every kind of field, whose last byte is tensor data (the
// last tensor needs no padding), so every proper prefix is broken.
std::vector<std::byte> small_valid_file() {
  Writer w(3);
  w.add("general.architecture", Value::str("llama"));
  w.add("general.alignment", Value::u32(32));
  w.add("n", Value::u64(7));
  w.add("ok", Value::boolean(true));
  w.add("eps", Value::f32(1e-5f));
  w.add("tokens", Value::str_array({"<s>", "a", ""}));
  w.add("nested", Value::array(ValueType::kArray,
                               {Value::array(ValueType::kI8, {Value::i8(-1)}),
                                Value::array(ValueType::kF64, {})}));
  EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", {32, 2}, DType::kQ4_0).is_ok());
  EXPECT_TRUE(w.add_tensor("norm", {8, 2}, DType::kF32).is_ok());
  const std::vector<std::byte> q(36, std::byte{1}), n(64, std::byte{2});
  const std::span<const std::byte> data[] = {q, n};
  Result<std::vector<std::byte>> bytes = w.to_bytes(data);
  EXPECT_TRUE(bytes.is_ok()) << bytes.error().message();
  return bytes.is_ok() ? std::move(bytes).value() : std::vector<std::byte>{};
}

TEST(GgufBadFiles, TruncationAtEveryByteFails) {
  const std::vector<std::byte> file = small_valid_file();
  Result<File> whole = File::parse(file, "bad.gguf");
  ASSERT_TRUE(whole.is_ok()) << whole.error().message();
  const TensorInfo& last = whole->tensors().back();
  ASSERT_EQ(whole->data_offset() + last.offset + last.nbytes, file.size());
  for (size_t n = 0; n < file.size(); ++n) {
    SCOPED_TRACE("prefix of " + std::to_string(n) + " bytes");
    bad(std::span(file).first(n));
  }
}

TEST(GgufBadFiles, TruncationMessagesSayWhere) {
  const std::vector<std::byte> file = small_valid_file();
  EXPECT_EQ(bad(std::span(file).first(2)),
            "bad.gguf: magic at offset 0 needs 4 bytes, but only 2 are left (file size 2)");
  EXPECT_EQ(bad(std::span(file).first(40)),
            "bad.gguf: metadata key count 7 at offset 16 cannot fit in the 16 bytes left "
            "(each takes at least 13)");
  // Cut inside the first key's name: its length says 20 bytes, fewer are left.
  RawGguf cut;
  cut.header(0, 1).u64(20).zeros(5);
  EXPECT_EQ(bad(cut.bytes()),
            "bad.gguf: metadata entry #0 at offset 24: key at offset 24 has length 20, "
            "but only 5 bytes are left (file size 37)");
  const std::string m = bad(std::span(file).first(file.size() - 1));
  EXPECT_CONTAINS(m, "tensor \"norm\" at header offset ");
  EXPECT_CONTAINS(m, "extends past end of file (size " + std::to_string(file.size() - 1) + ")");
}

TEST(GgufBadFiles, BadMagicAndVersions) {
  RawGguf magic;
  magic.u32(0x464C457F).u32(3).u64(0).u64(0);  // "\x7fELF"
  EXPECT_EQ(bad(magic.bytes()),
            "bad.gguf: bad magic \"\\x7fELF\" at offset 0 (expected \"GGUF\"): not a GGUF file");

  EXPECT_CONTAINS(bad(RawGguf().header(0, 0, 1).bytes()), "GGUF version 1 at offset 4 is not supported");
  EXPECT_CONTAINS(bad(RawGguf().header(0, 0, 0).bytes()), "unsupported GGUF version 0 at offset 4");
  EXPECT_CONTAINS(bad(RawGguf().header(0, 0, 4).bytes()), "unsupported GGUF version 4");
  EXPECT_CONTAINS(bad(RawGguf().header(0, 0, 0x03000000).bytes()), "big-endian");
  EXPECT_TRUE(File::parse(RawGguf().header(0, 0, 2).bytes(), "v2.gguf").is_ok());
}

TEST(GgufBadFiles, AbsurdCountsAreCheckedBeforeAllocating) {
  EXPECT_EQ(bad(RawGguf().header(UINT64_MAX, 0).bytes()),
            "bad.gguf: tensor count 18446744073709551615 at offset 8 cannot fit in the 0 "
            "bytes left (each takes at least 32)");
  EXPECT_CONTAINS(bad(RawGguf().header(0, uint64_t{1} << 60).zeros(100).bytes()),
                  "metadata key count 1152921504606846976 at offset 16 cannot fit in the 100 bytes");
  // An array of 2^62 u32 in a file of a few dozen bytes.
  RawGguf array;
  array.header(0, 1).str("big").u32(9).u32(4).u64(uint64_t{1} << 62).u32(1);
  EXPECT_CONTAINS(bad(array.bytes()), "metadata key \"big\" at offset 24: array length "
                                      "4611686018427387904 at offset 43 cannot fit in the 4 bytes");
  // An array of arrays: each item needs at least 12 bytes.
  RawGguf nested;
  nested.header(0, 1).str("n").u32(9).u32(9).u64(3).zeros(24);
  EXPECT_CONTAINS(bad(nested.bytes()), "array length 3 at offset 41 cannot fit in the 24 bytes");
}

TEST(GgufBadFiles, MetadataValuesAreCappedBeforeAllocating) {
  RawGguf r;  // one byte per item really is there, but the item count is over the cap
  r.header(0, 1).str("big").u32(9).u32(0).u64(kMaxMetadataValues + 1).zeros(kMaxMetadataValues + 1);
  EXPECT_CONTAINS(bad(r.bytes()), "array of 8388609 items at offset 39 takes the file past "
                                  "8388608 metadata values");
}

TEST(GgufBadFiles, AbsurdStringLengths) {
  RawGguf key;
  key.header(0, 1).u64(uint64_t{1} << 63).zeros(8);
  EXPECT_CONTAINS(bad(key.bytes()), "key at offset 24 has length 9223372036854775808, but only 8");
  RawGguf value;
  value.header(0, 1).str("name").u32(8).u64(UINT64_MAX - 3);
  EXPECT_CONTAINS(bad(value.bytes()), "metadata key \"name\" at offset 24: string value at offset 40 "
                                      "has length 18446744073709551612");
  RawGguf tensor_name;
  tensor_name.header(1, 0).u64(1000).zeros(40);
  EXPECT_CONTAINS(bad(tensor_name.bytes()), "tensor #0 at header offset 24: name at offset 24 has "
                                            "length 1000, but only 40 bytes are left");
}

TEST(GgufBadFiles, TensorDataPastTheEnd) {
  RawGguf r;
  r.header(1, 0).tensor("w", {8}, kF32, 64).pad_to(32).zeros(32);
  EXPECT_EQ(bad(r.bytes()),
            "bad.gguf: tensor \"w\" at header offset 24: data [128, 160) extends past end of "
            "file (size 96)");
  RawGguf tail;  // starts inside the file, ends past it
  tail.header(1, 0).tensor("w", {16}, kF32, 0).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(tail.bytes()), "data [64, 128) extends past end of file (size 96)");
  RawGguf huge;  // offset + data start wraps around 2^64
  huge.header(1, 0).tensor("w", {8}, kF32, UINT64_MAX - 31).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(huge.bytes()), "data at data section 64 + offset 18446744073709551584 "
                                     "extends past end of file");
  RawGguf end;  // data end wraps around 2^64
  end.header(1, 0).tensor("w", {uint64_t{1} << 62}, kF32, 0).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(end.bytes()), "has a byte size that overflows u64");
}

TEST(GgufBadFiles, TensorOffsetsMustBeAligned) {
  RawGguf r;
  r.header(1, 0).tensor("w", {8}, kF32, 16).pad_to(32).zeros(64);
  EXPECT_CONTAINS(bad(r.bytes()), "tensor \"w\" at header offset 24: data offset 16 at offset 49 "
                                  "is not a multiple of the alignment 32");
}

TEST(GgufBadFiles, DuplicateNamesAndKeys) {
  RawGguf tensors;
  tensors.header(2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32).pad_to(32).zeros(64);
  EXPECT_CONTAINS(bad(tensors.bytes()), "tensor \"w\" at header offset 57: duplicate tensor name "
                                        "(also tensor #0)");
  RawGguf keys;
  keys.header(0, 2).kv_u32("k", 1).kv_u32("k", 2);
  EXPECT_CONTAINS(bad(keys.bytes()), "metadata key \"k\" at offset 41 is a duplicate (first at "
                                     "offset 24)");
}

TEST(GgufBadFiles, UnknownTypes) {
  RawGguf tensor;
  tensor.header(1, 0).tensor("blk.0.ffn_up.weight", {8}, 99, 0).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(tensor.bytes()), "tensor \"blk.0.ffn_up.weight\" at header offset 24: "
                                       "unknown tensor type id 99");
  RawGguf removed;  // GGML type 4 (Q4_2) was removed
  removed.header(1, 0).tensor("w", {32}, 4, 0).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(removed.bytes()), "unknown tensor type id 4");
  RawGguf value;
  value.header(0, 1).str("k").u32(13).u32(0);
  EXPECT_CONTAINS(bad(value.bytes()), "metadata key \"k\" at offset 24: unknown value type 13 at "
                                      "offset 33");
  RawGguf elem;
  elem.header(0, 1).str("k").u32(9).u32(1000).u64(0);
  EXPECT_CONTAINS(bad(elem.bytes()), "unknown array element type 1000 at offset 37");
}

TEST(GgufBadFiles, BadDims) {
  auto with_dims = [](std::initializer_list<uint64_t> dims, uint32_t type) {
    RawGguf r;
    r.header(1, 0).tensor("t", dims, type, 0).pad_to(32).zeros(64);
    return bad(r.bytes());
  };
  EXPECT_CONTAINS(with_dims({}, kF32), "tensor \"t\" at header offset 24: n_dims 0 at offset 33 "
                                       "(allowed: 1 to 4)");
  EXPECT_CONTAINS(with_dims({1, 1, 1, 1, 1}, kF32), "n_dims 5");
  EXPECT_CONTAINS(with_dims({8, 0}, kF32), "has dim 1 equal to 0");
  EXPECT_CONTAINS(with_dims({uint64_t{1} << 32, uint64_t{1} << 32}, kF32),
                  "has dims whose product overflows int64 (dim 1 = 4294967296)");
  EXPECT_CONTAINS(with_dims({uint64_t{1} << 63}, kF32), "product overflows int64");
  EXPECT_CONTAINS(with_dims({33}, kQ4_0), "row length 33, not a multiple of q4_0's block of 32");

  RawGguf huge_n_dims;  // n_dims is checked before its dims are read
  huge_n_dims.header(1, 0).str("t").u32(UINT32_MAX).zeros(40);
  EXPECT_CONTAINS(bad(huge_n_dims.bytes()), "n_dims 4294967295");
}

TEST(GgufBadFiles, BadValues) {
  RawGguf boolean;
  boolean.header(0, 1).str("b").u32(7).u8(2);
  EXPECT_CONTAINS(bad(boolean.bytes()), "metadata key \"b\" at offset 24: bool value 2 at offset 37 "
                                        "(must be 0 or 1)");
  RawGguf in_array;
  in_array.header(0, 1).str("b").u32(9).u32(7).u64(3).u8(0).u8(1).u8(255);
  EXPECT_CONTAINS(bad(in_array.bytes()), "item 2: bool value 255 at offset 51");

  RawGguf deep;  // 65 nested arrays, each holding the next
  deep.header(0, 1).str("deep").u32(9);
  for (int k = 0; k < 65; ++k) deep.u32(9).u64(1);
  deep.zeros(16);
  EXPECT_CONTAINS(bad(deep.bytes()), "is nested deeper than 64 levels");
}

TEST(GgufBadFiles, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    RawGguf r;
    r.header(0, 1).kv_u32("general.alignment", a);
    EXPECT_CONTAINS(bad(r.bytes()), "metadata key \"general.alignment\" = " + std::to_string(a) +
                                        " (u32) is not a nonzero power of two");
  }
  RawGguf str;
  str.header(0, 1).str("general.alignment").u32(8).str("64");
  EXPECT_CONTAINS(bad(str.bytes()), "\"general.alignment\" = \"64\" (string) is not");
  RawGguf ok;  // a custom alignment moves the data section
  ok.header(1, 1).kv_u32("general.alignment", 256).tensor("w", {4}, kF32, 0).pad_to(256).zeros(16);
  Result<File> f = File::parse(ok.bytes(), "ok.gguf");
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->data_offset(), 256u);
}

TEST(GgufBadFiles, NamesWithControlBytesAreEscaped) {
  RawGguf r;
  r.header(1, 0).tensor(std::string("a\nb\0c", 5), {8}, 99, 0).pad_to(32).zeros(32);
  EXPECT_CONTAINS(bad(r.bytes()), "tensor \"a\\nb\\x00c\" at header offset 24");
}

TEST(GgufBadFiles, VocabOnlyFileNeedsNoDataSection) {
  RawGguf r;  // header ends at 41, not padded: fine with no tensors
  r.header(0, 1).kv_u32("k", 5);
  Result<File> f = File::parse(r.bytes(), "vocab.gguf");
  ASSERT_TRUE(f.is_ok()) << f.error().message();
  EXPECT_EQ(f->data_offset(), 64u);
  EXPECT_EQ(f->get_uint("k").value(), 5u);
}

}  // namespace
}  // namespace tandem::gguf
