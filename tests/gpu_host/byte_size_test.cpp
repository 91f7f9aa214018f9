#include "gpu/byte_size.h"

#include <gtest/gtest.h>

namespace tandem::gpu {
namespace {

TEST(ByteSize, ParsesNumbersAndBinaryUnits) {
  const struct {
    const char* text;
    uint64_t bytes;
  } cases[] = {
      {"0", 0},
      {"123", 123},
      {"123B", 123},
      {"64K", 64ull << 10},
      {"512M", 512ull << 20},
      {"512mb", 512ull << 20},
      {"16G", 16ull << 30},
      {"16GB", 16ull << 30},
      {"16GiB", 16ull << 30},
      {"16g", 16ull << 30},
      {"1.5G", 3ull << 29},
      {"0.5K", 512},
      {"2T", 2ull << 40},
      {"1.0000000001K", 1024},          // fractions of a byte are dropped
      {"18446744073709551615", UINT64_MAX},
  };
  for (const auto& c : cases) {
    auto r = parse_byte_size(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error().message();
    EXPECT_EQ(*r, c.bytes) << c.text;
  }
}

TEST(ByteSize, RejectsJunkWithTheText) {
  for (const char* bad : {"", "G", "-1G", "16X", "16GG", "16 G", "1.2.3", "abc", "16Gi", "18446744073709551616",
                          "17179869184G"}) {
    auto r = parse_byte_size(bad);
    ASSERT_FALSE(r) << "'" << bad << "' parsed as " << *r;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(std::string("'") + bad + "'"), std::string::npos) << r.error().message();
  }
}

TEST(ByteSize, Formats) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(512ull << 20), "512.00 MiB");
  EXPECT_EQ(format_bytes(16ull << 30), "16.00 GiB");
  EXPECT_EQ(format_bytes((16ull << 30) - (128ull << 20)), "15.88 GiB");
  EXPECT_EQ(format_bytes(3ull << 40), "3.00 TiB");
}

}  // namespace
}  // namespace tandem::gpu
