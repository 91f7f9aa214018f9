// Packing of Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weights into 16-row groups (layouts:
// packed_kernels.h). Plain C++ (runs on any x86-64); the kernels that read these
// layouts are in packed_kquant_avx512.cpp. Packing only moves bytes, and unpacks Q3_K's,
// Q4_K's and Q5_K's 6-bit scales (and mins) to one byte each; a missing row (null)
// packs as an all-zero block.
#include <cstring>

#include "core/quant_blocks.h"
#include "cpu/packed_kernels.h"
#include "cpu/quant_ref_kernels.h"  // k4_scale_min, q3k_scale

namespace tandem::cpu {
namespace {

using L2 = PackedQ2K;
using L3 = PackedQ3K;
using L4 = PackedQ4K;
using L5 = PackedQ5K;
using L6 = PackedQ6K;
static_assert(L5::kD == L4::kD && L5::kDmin == L4::kDmin && L5::kScales == L4::kScales &&
              L5::kMins == L4::kMins && L5::kQs == L4::kQs && L5::kQh == L4::kBytes);
static_assert(L4::kDmin == L4::kD + 2 * kPackRows && L4::kScales == L4::kDmin + 2 * kPackRows &&
              L4::kMins == L4::kScales + 8 * kPackRows && L4::kQs == L4::kMins + 8 * kPackRows);
static_assert(L6::kScales >= L6::kD + 2 * kPackRows && L6::kQuads == L6::kScales + 16 * kPackRows);
static_assert(L2::kQs % 64 == 0 && L2::kBytes % 64 == 0 && L3::kQs % 64 == 0 && L3::kHmask % 64 == 0 &&
              L3::kBytes % 64 == 0);
static_assert(L4::kQs % 64 == 0 && L4::kBytes % 64 == 0 && L6::kQuads % 64 == 0 && L6::kBytes % 64 == 0);

void pack_column_q2_k(const BlockQ2_K& blk, int r, std::byte* dst) {
  auto* u8 = reinterpret_cast<uint8_t*>(dst);
  std::memcpy(dst + L2::kD + 2 * r, &blk.d, 2);
  std::memcpy(dst + L2::kDmin + 2 * r, &blk.dmin, 2);
  for (int s = 0; s < 16; ++s) u8[L2::kScales + kPackRows * s + r] = blk.scales[s];
  for (int c = 0; c < 16; ++c) std::memcpy(u8 + L2::kQs + 64 * c + 4 * r, blk.qs + 4 * c, 4);
}

void pack_column_q3_k(const BlockQ3_K& blk, int r, std::byte* dst) {
  auto* u8 = reinterpret_cast<uint8_t*>(dst);
  std::memcpy(dst + L3::kD + 2 * r, &blk.d, 2);
  for (int s = 0; s < 16; ++s) u8[L3::kScales + kPackRows * s + r] = static_cast<uint8_t>(q3k_scale(s, blk.scales));
  for (int c = 0; c < 16; ++c) std::memcpy(u8 + L3::kQs + 64 * c + 4 * r, blk.qs + 4 * c, 4);
  for (int i = 0; i < 8; ++i) std::memcpy(u8 + L3::kHmask + 64 * i + 4 * r, blk.hmask + 4 * i, 4);
}

void pack_column_q4_k(const BlockQ4_K& blk, int r, std::byte* dst) {
  auto* u8 = reinterpret_cast<uint8_t*>(dst);
  std::memcpy(dst + L4::kD + 2 * r, &blk.d, 2);
  std::memcpy(dst + L4::kDmin + 2 * r, &blk.dmin, 2);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = k4_scale_min(j, blk.scales);
    u8[L4::kScales + kPackRows * j + r] = sm.scale;
    u8[L4::kMins + kPackRows * j + r] = sm.min;
  }
  for (int j = 0; j < 32; ++j) std::memcpy(u8 + L4::kQs + 64 * j + 4 * r, blk.qs + 4 * j, 4);
}

// Q5_K: Q4_K's fields (BlockQ5_K has d, dmin, scales and qs as BlockQ4_K does), then qh.
void pack_column_q5_k(const BlockQ5_K& blk, int r, std::byte* dst) {
  BlockQ4_K low;
  std::memcpy(&low.d, &blk.d, 2);
  std::memcpy(&low.dmin, &blk.dmin, 2);
  std::memcpy(low.scales, blk.scales, sizeof(low.scales));
  std::memcpy(low.qs, blk.qs, sizeof(low.qs));
  pack_column_q4_k(low, r, dst);
  auto* u8 = reinterpret_cast<uint8_t*>(dst);
  for (int i = 0; i < 8; ++i) std::memcpy(u8 + L5::kQh + 64 * i + 4 * r, blk.qh + 4 * i, 4);
}

void pack_column_q6_k(const BlockQ6_K& blk, int r, std::byte* dst) {
  auto* u8 = reinterpret_cast<uint8_t*>(dst);
  std::memcpy(dst + L6::kD + 2 * r, &blk.d, 2);
  for (int s = 0; s < 16; ++s) std::memcpy(u8 + L6::kScales + kPackRows * s + r, &blk.scales[s], 1);
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 8; ++i) {
      uint8_t* quad = u8 + L6::kQuads + 3 * 64 * (8 * h + i) + 4 * r;
      std::memcpy(quad, blk.ql + 64 * h + 4 * i, 4);
      std::memcpy(quad + 64, blk.ql + 64 * h + 32 + 4 * i, 4);
      std::memcpy(quad + 128, blk.qh + 32 * h + 4 * i, 4);
    }
  }
}

template <typename B, size_t kColumnBytes>
void pack_k_group(const void* const rows[kPackRows], int64_t cols, std::byte* dst,
                  void (*pack_column)(const B&, int, std::byte*)) {
  const int64_t nb = cols / kQK_K;
  B zero;
  std::memset(&zero, 0, sizeof(zero));
  for (int64_t b = 0; b < nb; ++b, dst += kColumnBytes) {
    std::memset(dst, 0, kColumnBytes);  // also the padding bytes
    for (int r = 0; r < kPackRows; ++r)
      pack_column(rows[r] == nullptr ? zero : static_cast<const B*>(rows[r])[b], r, dst);
  }
}

}  // namespace

void pack_group_q2_k(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_k_group<BlockQ2_K, L2::kBytes>(rows, cols, dst, pack_column_q2_k);
}

void pack_group_q3_k(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_k_group<BlockQ3_K, L3::kBytes>(rows, cols, dst, pack_column_q3_k);
}

void pack_group_q4_k(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_k_group<BlockQ4_K, L4::kBytes>(rows, cols, dst, pack_column_q4_k);
}

void pack_group_q5_k(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_k_group<BlockQ5_K, L5::kBytes>(rows, cols, dst, pack_column_q5_k);
}

void pack_group_q6_k(const void* const rows[kPackRows], int64_t cols, std::byte* dst) {
  pack_k_group<BlockQ6_K, L6::kBytes>(rows, cols, dst, pack_column_q6_k);
}

}  // namespace tandem::cpu
