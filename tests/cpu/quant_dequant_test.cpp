// Dequantization of hand-built blocks: each test picks the quant of every element, packs
// the bytes itself by the documented GGML layout (explicit byte offsets, little-endian),
// and compares dequantize_row_ref with the value formula and with a few values worked
// out by hand. Values are exact in f32, so the comparisons are exact.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "cpu/quant_ref.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem {
namespace {

using cpu::dequantize_row_ref;

void put_u16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v & 0xff);
  b[off + 1] = static_cast<uint8_t>(v >> 8);
}

// f16 bits of a few exact values.
constexpr uint16_t kHalf0_125 = 0x3000, kHalf0_25 = 0x3400, kHalf0_5 = 0x3800, kHalf1 = 0x3C00,
                   kHalf1_5 = 0x3E00, kHalf2 = 0x4000, kHalfMinus3 = 0xC200;

// A buffer of whole blocks, 4-byte aligned (the Q8_K block holds a float).
std::vector<float> dequant(DType t, const std::vector<uint8_t>& bytes, int64_t n) {
  EXPECT_EQ(bytes.size(), cpu::quantized_row_bytes(t, n)) << dtype_name(t);
  std::vector<float> aligned((bytes.size() + 3) / 4);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row_ref(t, aligned.data(), y.data(), n);
  return y;
}

void expect_values(DType t, const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i) {
    if (got[i] != want[i]) {
      ++bad;
      ADD_FAILURE() << dtype_name(t) << " n=" << want.size() << " element " << i << ": got "
                    << got[i] << ", want " << want[i];
    }
  }
}

// ---- legacy types: 32 elements; qs byte j = element j (low nibble) | element j+16 (high)

TEST(DequantKnownBlock, Q4_0) {
  std::vector<uint8_t> b(18);
  put_u16(b, 0, kHalf0_5);
  std::vector<int> q(32);
  for (int e = 0; e < 32; ++e) q[e] = (e * 5 + 3) % 16;
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  std::vector<float> want(32);
  for (int e = 0; e < 32; ++e) want[e] = 0.5f * static_cast<float>(q[e] - 8);
  const std::vector<float> y = dequant(DType::kQ4_0, b, 32);
  expect_values(DType::kQ4_0, y, want);
  // By hand: byte 2 is q0=3 | q16=(83%16=3)<<4 -> x0 = 0.5*(3-8) = -2.5.
  EXPECT_EQ(y[0], -2.5f);
  EXPECT_EQ(y[16], -2.5f);
  EXPECT_EQ(y[1], 0.0f);  // q = 8
}

TEST(DequantKnownBlock, Q4_1) {
  std::vector<uint8_t> b(20);
  put_u16(b, 0, kHalf0_25);
  put_u16(b, 2, kHalf1_5);
  std::vector<int> q(32);
  for (int e = 0; e < 32; ++e) q[e] = (e * 7) % 16;
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
  std::vector<float> want(32);
  for (int e = 0; e < 32; ++e) want[e] = 0.25f * static_cast<float>(q[e]) + 1.5f;
  const std::vector<float> y = dequant(DType::kQ4_1, b, 32);
  expect_values(DType::kQ4_1, y, want);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[17], 0.25f * 7 + 1.5f);  // (17*7)%16 = 119%16 = 7
}

TEST(DequantKnownBlock, Q5_0) {
  std::vector<uint8_t> b(22);
  put_u16(b, 0, kHalf1);
  std::vector<int> q(32);
  for (int e = 0; e < 32; ++e) q[e] = (e * 7 + 1) % 32;
  uint32_t qh = 0;
  for (int e = 0; e < 32; ++e) qh |= static_cast<uint32_t>(q[e] >> 4) << e;
  for (int k = 0; k < 4; ++k) b[2 + k] = static_cast<uint8_t>(qh >> (8 * k));
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
  std::vector<float> want(32);
  for (int e = 0; e < 32; ++e) want[e] = static_cast<float>(q[e] - 16);
  const std::vector<float> y = dequant(DType::kQ5_0, b, 32);
  expect_values(DType::kQ5_0, y, want);
  EXPECT_EQ(y[0], -15.0f);  // q = 1
  EXPECT_EQ(y[3], 6.0f);    // q = 22: high bit from qh bit 3
  EXPECT_EQ(y[21], 4.0f);   // q = 148 % 32 = 20: needs qh bit 21 (third byte)
}

TEST(DequantKnownBlock, Q5_1) {
  std::vector<uint8_t> b(24);
  put_u16(b, 0, kHalf0_5);
  put_u16(b, 2, kHalfMinus3);
  std::vector<int> q(32);
  for (int e = 0; e < 32; ++e) q[e] = 31 - (e * 3) % 32;
  uint32_t qh = 0;
  for (int e = 0; e < 32; ++e) qh |= static_cast<uint32_t>(q[e] >> 4) << e;
  for (int k = 0; k < 4; ++k) b[4 + k] = static_cast<uint8_t>(qh >> (8 * k));
  for (int j = 0; j < 16; ++j) b[8 + j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
  std::vector<float> want(32);
  for (int e = 0; e < 32; ++e) want[e] = 0.5f * static_cast<float>(q[e]) - 3.0f;
  const std::vector<float> y = dequant(DType::kQ5_1, b, 32);
  expect_values(DType::kQ5_1, y, want);
  EXPECT_EQ(y[0], 12.5f);   // q = 31
  EXPECT_EQ(y[31], -2.0f);  // q = 31 - 93 % 32 = 2
}

TEST(DequantKnownBlock, Q8_0AndQ8_1) {
  std::vector<uint8_t> b0(34), b1(36);
  put_u16(b0, 0, kHalf0_125);
  put_u16(b1, 0, kHalf2);
  put_u16(b1, 2, 0x1234);  // s: not used by dequantization
  std::vector<float> want0(32), want1(32);
  for (int e = 0; e < 32; ++e) {
    const int q = e * 8 - 128;  // -128 .. 120
    b0[2 + e] = static_cast<uint8_t>(static_cast<int8_t>(q));
    b1[4 + e] = static_cast<uint8_t>(static_cast<int8_t>(q));
    want0[e] = 0.125f * static_cast<float>(q);
    want1[e] = 2.0f * static_cast<float>(q);
  }
  expect_values(DType::kQ8_0, dequant(DType::kQ8_0, b0, 32), want0);
  expect_values(DType::kQ8_1, dequant(DType::kQ8_1, b1, 32), want1);
  EXPECT_EQ(dequant(DType::kQ8_0, b0, 32)[0], -16.0f);
}

// Two blocks in a row: the second block's bytes start right after the first's.
TEST(DequantKnownBlock, Q4_0TwoBlocks) {
  std::vector<uint8_t> b(36, 0x88);  // every q = 8 -> 0
  put_u16(b, 0, kHalf1);
  put_u16(b, 18, kHalf2);
  b[18 + 2] = 0x0f;  // block 1: element 0 q = 15, element 16 q = 0
  const std::vector<float> y = dequant(DType::kQ4_0, b, 64);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[32], 14.0f);
  EXPECT_EQ(y[48], -16.0f);
  EXPECT_EQ(y[33], 0.0f);
}

// ---- K-quants --------------------------------------------------------------------

// Q2_K/Q3_K qs: byte 32h + l holds elements 128h + 32k + l in bits 2k, 2k+1.
void pack_k23_low_bits(const std::vector<int>& low2, std::vector<uint8_t>& b, size_t qs_off) {
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    b[qs_off + 32 * h + l] |= static_cast<uint8_t>(low2[e] << (2 * k));
  }
}

TEST(DequantKnownBlock, Q2_K) {
  // Layout: scales (16: scale low nibble, min high nibble) qs (64) d (2) dmin (2) = 84.
  std::vector<uint8_t> b(84);
  std::vector<int> sc(16), mn(16), q(256);
  for (int s = 0; s < 16; ++s) {
    sc[s] = (s * 7 + 3) % 16;
    mn[s] = (s * 5 + 1) % 16;
    b[s] = static_cast<uint8_t>(sc[s] | (mn[s] << 4));
  }
  for (int e = 0; e < 256; ++e) q[e] = (e * 3 + e / 5) % 4;
  pack_k23_low_bits(q, b, 16);
  put_u16(b, 80, kHalf0_5);
  put_u16(b, 82, kHalf0_25);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.5f * static_cast<float>(sc[e / 16]) * static_cast<float>(q[e]) -
              0.25f * static_cast<float>(mn[e / 16]);
  const std::vector<float> y = dequant(DType::kQ2_K, b, 256);
  expect_values(DType::kQ2_K, y, want);
  EXPECT_EQ(y[0], -0.25f);   // sub-block 0: scale 3, min 1, q = 0
  EXPECT_EQ(y[37], -1.75f);  // sub-block 2: scale 1, min 11, q = 118 % 4 = 2: 1 - 2.75
  EXPECT_EQ(y[201], 7.25f);  // sub-block 12: scale 7, min 13, q = 643 % 4 = 3 (qs[41] bits 4-5)
  EXPECT_EQ(y[255], -3.0f);  // sub-block 15: scale 12, min 12, q = 816 % 4 = 0
}

// Q3_K scales, each stored + 32 in 6 bits: the low nibble in byte s (s < 8) or the high
// nibble of byte s - 8, the top 2 bits in bits 2 (s / 4), 2 (s / 4) + 1 of byte 8 + s % 4.
constexpr std::array<int, 16> kSc3 = {-32, 31, 0, 1, -1, 17, -17, 5, -5, 30, -30, 8, -8, 2, -2, 16};

std::array<uint8_t, 12> pack_q3k_scales(const std::array<int, 16>& sc) {
  std::array<uint8_t, 12> s{};
  for (int j = 0; j < 16; ++j) {
    const int v = sc[j] + 32;
    s[j % 8] |= static_cast<uint8_t>((v & 15) << (j < 8 ? 0 : 4));
    s[8 + j % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (j / 4)));
  }
  return s;
}

TEST(DequantKnownBlock, Q3KScaleUnpacking) {
  const std::array<uint8_t, 12> s = pack_q3k_scales(kSc3);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(cpu::q3k_scale(j, s.data()), kSc3[j]) << "sub-block " << j;
  // By hand: sub-block 0 stores 0; sub-block 1 stores 63 = 0b11'1111 -> byte 1 low
  // nibble 15, byte 9 bits 0-1 = 3; sub-block 9 stores 62 = 0b11'1110 -> byte 1 high
  // nibble 14, byte 9 bits 4-5 = 3.
  EXPECT_EQ(s[1], 0xEF);
  EXPECT_EQ(s[9] & 0x33, 0x33);
  EXPECT_EQ(s[0] & 15, 0);
}

TEST(DequantKnownBlock, Q3_K) {
  // Layout: hmask (32) qs (64) scales (12) d (2) = 110 bytes.
  std::vector<uint8_t> b(110);
  std::vector<int> q(256), low2(256);  // q in -4..3 = (low 2 bits | third bit << 2) - 4
  for (int e = 0; e < 256; ++e) {
    q[e] = (e * 5 + e / 7) % 8 - 4;
    low2[e] = (q[e] + 4) & 3;
    if (q[e] + 4 >= 4) b[e % 32] |= static_cast<uint8_t>(1 << (e / 32));  // hmask
  }
  pack_k23_low_bits(low2, b, 32);
  const std::array<uint8_t, 12> s = pack_q3k_scales(kSc3);
  std::copy(s.begin(), s.end(), b.begin() + 96);
  put_u16(b, 108, kHalf0_125);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.125f * static_cast<float>(kSc3[e / 16]) * static_cast<float>(q[e]);
  const std::vector<float> y = dequant(DType::kQ3_K, b, 256);
  expect_values(DType::kQ3_K, y, want);
  EXPECT_EQ(y[0], 16.0f);     // scale -32, q = -4 (third bit clear)
  EXPECT_EQ(y[17], 11.625f);  // scale 31, q = 87 % 8 - 4 = 3 (hmask[17] bit 0 set)
  EXPECT_EQ(y[40], 0.0f);     // scale 0
  EXPECT_EQ(y[250], 2.0f);    // scale 16, q = 1285 % 8 - 4 = 1 (hmask[26] bit 7 set)
}

constexpr std::array<int, 8> kSc = {1, 7, 63, 32, 17, 45, 2, 60};
constexpr std::array<int, 8> kMn = {0, 3, 12, 63, 33, 5, 48, 19};

// The 12 scale bytes of Q4_K/Q5_K: bytes 0-3 sc[0..3] | top 2 bits of sc[4..7] in bits
// 6-7; bytes 4-7 mn[0..3] | top 2 bits of mn[4..7]; bytes 8-11 low nibbles of sc[4..7]
// | low nibbles of mn[4..7] << 4.
std::array<uint8_t, 12> pack_k4_scales(const std::array<int, 8>& sc, const std::array<int, 8>& mn) {
  std::array<uint8_t, 12> s{};
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  return s;
}

TEST(DequantKnownBlock, K4ScaleMinUnpacking) {
  const std::array<uint8_t, 12> s = pack_k4_scales(kSc, kMn);
  for (int j = 0; j < 8; ++j) {
    const cpu::ScaleMin sm = cpu::k4_scale_min(j, s.data());
    EXPECT_EQ(sm.scale, kSc[j]) << "sub-block " << j;
    EXPECT_EQ(sm.min, kMn[j]) << "sub-block " << j;
  }
  // By hand: sc[4] = 17 = 0b01'0001 -> byte 8 low nibble 1 and byte 0 bits 6-7 = 01.
  EXPECT_EQ(s[0], 1 | (1 << 6));
  EXPECT_EQ(s[8] & 15, 1);
}

TEST(DequantKnownBlock, Q4_K) {
  // Layout: d (2) dmin (2) scales (12) qs (128) = 144 bytes.
  std::vector<uint8_t> b(144);
  put_u16(b, 0, kHalf0_5);
  put_u16(b, 2, kHalf0_25);
  const std::array<uint8_t, 12> s = pack_k4_scales(kSc, kMn);
  std::copy(s.begin(), s.end(), b.begin() + 4);
  std::vector<int> q(256);
  for (int e = 0; e < 256; ++e) q[e] = (e * 3 + e / 7) % 16;
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b[16 + 32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.5f * static_cast<float>(kSc[e / 32]) * static_cast<float>(q[e]) -
              0.25f * static_cast<float>(kMn[e / 32]);
  const std::vector<float> y = dequant(DType::kQ4_K, b, 256);
  expect_values(DType::kQ4_K, y, want);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[32], 13.25f);   // sub-block 1, q = 100 % 16 = 4: 0.5*7*4 - 0.25*3
  EXPECT_EQ(y[200], -8.0f);   // sub-block 6, q = 628 % 16 = 4: 0.5*2*4 - 0.25*48
  EXPECT_EQ(y[255], 25.25f);  // sub-block 7, q = 801 % 16 = 1: 0.5*60 - 0.25*19
}

TEST(DequantKnownBlock, Q5_K) {
  // Layout: d (2) dmin (2) scales (12) qh (32) qs (128) = 176 bytes.
  std::vector<uint8_t> b(176);
  put_u16(b, 0, kHalf0_5);
  put_u16(b, 2, kHalf0_25);
  const std::array<uint8_t, 12> s = pack_k4_scales(kSc, kMn);
  std::copy(s.begin(), s.end(), b.begin() + 4);
  std::vector<int> q(256);
  for (int e = 0; e < 256; ++e) q[e] = (e * 5 + e / 9) % 32;
  for (int e = 0; e < 256; ++e) {
    const int c = e / 64, high_half = (e % 64) / 32, l = e % 32;
    b[16 + l] |= static_cast<uint8_t>((q[e] >> 4) << (2 * c + high_half));
  }
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b[48 + 32 * c + l] = static_cast<uint8_t>((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.5f * static_cast<float>(kSc[e / 32]) * static_cast<float>(q[e]) -
              0.25f * static_cast<float>(kMn[e / 32]);
  const std::vector<float> y = dequant(DType::kQ5_K, b, 256);
  expect_values(DType::kQ5_K, y, want);
  EXPECT_EQ(y[100], 480.25f);  // sub-block 3, q = 511 % 32 = 31: 0.5*32*31 - 0.25*63
}

TEST(DequantKnownBlock, Q6_K) {
  // Layout: ql (128) qh (64) scales (16, int8) d (2) = 210 bytes.
  constexpr std::array<int, 16> sc = {5, -3, 127, -128, 0, 1, -1, 64, 17, -17, 100, -100, 2, 33, -64, 8};
  std::vector<uint8_t> b(210);
  std::vector<int> q(256);  // 0..63, value q - 32
  for (int e = 0; e < 256; ++e) q[e] = (e * 11 + e / 5) % 64;
  for (int h = 0; h < 2; ++h) {
    const int* qq = q.data() + 128 * h;
    for (int l = 0; l < 32; ++l) {
      b[64 * h + l] = static_cast<uint8_t>((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
      b[64 * h + l + 32] = static_cast<uint8_t>((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
      b[128 + 32 * h + l] = static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                                 ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
    }
  }
  for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<uint8_t>(static_cast<int8_t>(sc[s]));
  put_u16(b, 208, kHalf0_125);
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e)
    want[e] = 0.125f * static_cast<float>(sc[e / 16]) * static_cast<float>(q[e] - 32);
  const std::vector<float> y = dequant(DType::kQ6_K, b, 256);
  expect_values(DType::kQ6_K, y, want);
  EXPECT_EQ(y[0], -20.0f);   // q = 0, scale 5
  EXPECT_EQ(y[70], 0.0f);    // scale 0
  EXPECT_EQ(y[130], 34.0f);  // second half, q = 1456 % 64 = 48, scale 17
  EXPECT_EQ(y[255], 8.0f);   // q = 2856 % 64 = 40, scale 8
}

TEST(DequantKnownBlock, Q8_K) {
  // Layout: d (f32) qs (256, int8) bsums (16 x i16) = 292 bytes.
  std::vector<uint8_t> b(292);
  const uint32_t dbits = std::bit_cast<uint32_t>(0.75f);
  for (int k = 0; k < 4; ++k) b[k] = static_cast<uint8_t>(dbits >> (8 * k));
  std::vector<float> want(256);
  for (int e = 0; e < 256; ++e) {
    b[4 + e] = static_cast<uint8_t>(static_cast<int8_t>(e - 128));
    want[e] = 0.75f * static_cast<float>(e - 128);
  }
  expect_values(DType::kQ8_K, dequant(DType::kQ8_K, b, 256), want);
}

// ---- plain floats ----------------------------------------------------------------

TEST(DequantKnownBlock, F16AndBF16) {
  const std::vector<uint16_t> h = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555};
  const std::vector<float> hv = {1.0f, -2.0f, 65504.0f, 5.9604645e-8f, -0.0f, 0.333251953125f};
  std::vector<float> y(h.size());
  dequantize_row_ref(DType::kF16, h.data(), y.data(), static_cast<int64_t>(h.size()));
  expect_values(DType::kF16, y, hv);
  EXPECT_TRUE(std::signbit(y[4])) << "f16 -0 keeps its sign";

  const std::vector<uint16_t> bf = {0x3F80, 0xC040, 0x4049, 0x0000};
  const std::vector<float> bv = {1.0f, -3.0f, 3.140625f, 0.0f};
  y.resize(bf.size());
  dequantize_row_ref(DType::kBF16, bf.data(), y.data(), static_cast<int64_t>(bf.size()));
  expect_values(DType::kBF16, y, bv);
}

}  // namespace
}  // namespace tandem
