// The LUT GEMV's portable parts: packing Q4_0 into bit planes, the activation tables,
// and the check before the kernel (plain C++: this file runs on any x86-64; the kernel
// is in lut_gemv_avx512.cpp).
#include "cpu/lut_gemv.h"

#include <tbb/parallel_for.h>

#include <cstdlib>
#include <cstring>

#include "core/check.h"
#include "core/fp16.h"
#include "core/quant_blocks.h"
#include "cpu/quant_ref.h"

namespace tandem::cpu {
namespace {

// q[e] of a Q4_0 block, e < 32, in the format's element order.
inline int q4(const BlockQ4_0& b, int e) { return e < 16 ? b.qs[e] & 0x0f : b.qs[e - 16] >> 4; }

// The 4-bit pattern of plane k over elements e0 .. e0+3: bit i = bit k of q[e0 + i].
inline uint8_t plane_bits(const int q[32], int e0, int k) {
  uint8_t m = 0;
  for (int i = 0; i < 4; ++i) m = static_cast<uint8_t>(m | (((q[e0 + i] >> k) & 1) << i));
  return m;
}

// One group: rows[r] is row r's first block, or null for a missing row (all zero).
void pack_group(const BlockQ4_0* const rows[kLutRows], int64_t nb, std::byte* dst) {
  for (int64_t b = 0; b < nb; ++b, dst += kLutBlockBytes) {
    std::memset(dst, 0, kLutBlockBytes);
    auto* d = reinterpret_cast<uint16_t*>(dst);      // [16] f16
    auto* planes = reinterpret_cast<uint8_t*>(dst + 2 * kLutRows);  // [4 chunks][16 rows][4 planes]
    for (int r = 0; r < kLutRows; ++r) {
      if (rows[r] == nullptr) continue;
      const BlockQ4_0& blk = rows[r][b];
      d[r] = blk.d;
      int q[32];
      for (int e = 0; e < 32; ++e) q[e] = q4(blk, e);
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 4; ++k)
          planes[64 * j + 4 * r + k] =
              static_cast<uint8_t>(plane_bits(q, 8 * j, k) | (plane_bits(q, 8 * j + 4, k) << 4));
    }
  }
}

// Subset sums of v[0..3]: t[m] = sum_{bit i of m} v[i], built from the sum without
// the highest bit.
template <typename T>
void subset_sums(const int v[4], T t[16]) {
  t[0] = 0;
  for (int m = 1; m < 16; ++m) {
    const int top = 31 - __builtin_clz(static_cast<unsigned>(m));
    t[m] = static_cast<T>(t[m & ~(1 << top)] + v[top]);
  }
}

}  // namespace

void LutFree::operator()(std::byte* p) const { std::free(p); }

Result<LutMatrix> pack_lut_q4_0(const void* w, int64_t rows, int64_t cols) {
  TANDEM_CHECK(rows > 0 && cols > 0 && cols % kQK == 0) << "pack_lut_q4_0: " << rows << "x" << cols;
  LutMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.groups = (rows + kLutRows - 1) / kLutRows;
  m.group_bytes = static_cast<size_t>(cols / kQK) * kLutBlockBytes;
  const size_t total = m.bytes();
  void* p = std::aligned_alloc(64, (total + 63) / 64 * 64);  // a multiple of the alignment
  if (p == nullptr)
    return Error(Code::kOutOfMemory) << "packing a " << rows << "x" << cols << " Q4_0 matrix for the LUT kernel: "
                                     << total << " bytes";
  m.data.reset(static_cast<std::byte*>(p));
  const int64_t nb = cols / kQK;
  const auto* base = static_cast<const BlockQ4_0*>(w);  // [rows][nb]
  tbb::parallel_for(int64_t{0}, m.groups, [&](int64_t g) {
    const BlockQ4_0* src[kLutRows];
    for (int r = 0; r < kLutRows; ++r) {
      const int64_t row = g * kLutRows + r;
      src[r] = row < rows ? base + row * nb : nullptr;
    }
    pack_group(src, nb, m.data.get() + static_cast<size_t>(g) * m.group_bytes);
  });
  return m;
}

void lut_prepare_act_ref(const void* x_q8_0, int64_t cols, LutActBlock* act) {
  TANDEM_CHECK(cols % kQK == 0) << "lut_prepare_act_ref: " << cols << " columns";
  const auto* x = static_cast<const BlockQ8_0*>(x_q8_0);
  for (int64_t b = 0; b < cols / kQK; ++b) {
    LutActBlock& a = act[b];
    int32_t sum = 0;
    for (int g = 0; g < 8; ++g) {
      int lo[4], hi[4];
      for (int i = 0; i < 4; ++i) {
        const int v = x[b].qs[4 * g + i];
        sum += v;
        lo[i] = v & 15;  // v = 16 * hi + lo
        hi[i] = v >> 4;  // arithmetic: floor(v / 16)
      }
      uint8_t* tl = a.tab[g / 2][2 * (g % 2)];
      int8_t* th = reinterpret_cast<int8_t*>(a.tab[g / 2][2 * (g % 2) + 1]);
      subset_sums(lo, tl);
      subset_sums(hi, th);
    }
    a.d = fp16_to_f32(x[b].d);
    a.bias = -8 * sum;
  }
}

void lut_prepare_act(const void* x_q8_0, int64_t cols, LutActBlock* act) {
  TANDEM_CHECK(cols % kQK == 0) << "lut_prepare_act: " << cols << " columns";
  if (lut_available())
    lut_prepare_act_avx512vbmi(x_q8_0, cols, act);
  else
    lut_prepare_act_ref(x_q8_0, cols, act);
}

void lut_quantize_act(const float* x, int64_t cols, LutActBlock* act) {
  TANDEM_CHECK(cols % kQK == 0) << "lut_quantize_act: " << cols << " columns";
  if (lut_available()) {
    lut_quantize_act_avx512vbmi(x, cols, act);
    return;
  }
  for (int64_t b = 0; b < cols / kQK; ++b) {
    BlockQ8_0 q;
    quantize_row_ref(DType::kQ8_0, x + b * kQK, &q, kQK);
    lut_prepare_act_ref(&q, kQK, act + b);
  }
}

bool lut_available(const CpuFeatures& f) {
  return isa_supported(Isa::kAvx512, f) && f.avx512_vnni && f.avx512_vbmi;
}

bool lut_available() { return lut_available(cpu_features()); }

void lut_gemv_q4_0(const LutMatrix& m, const LutActBlock* act, int64_t row_begin, int64_t row_end, float* y) {
  TANDEM_CHECK(lut_available()) << "lut_gemv_q4_0: this CPU lacks AVX-512 BW/VNNI/VBMI";
  TANDEM_CHECK(0 <= row_begin && row_begin <= row_end && row_end <= m.rows)
      << "lut_gemv_q4_0: rows [" << row_begin << ", " << row_end << ") of " << m.rows;
  if (row_begin == row_end) return;
  lut_gemv_q4_0_avx512vbmi(m, act, row_begin, row_end, y);
}

}  // namespace tandem::cpu
