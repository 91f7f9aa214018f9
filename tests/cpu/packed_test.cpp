// Packed weights (cpu/packed.h): matmul with a packed matrix gives the reference's
// results bit for bit, for every packable type, row counts around the 16-row group
// (1, 15, 16, 17, 47, 130), several column counts, 1..9, 17 and 70 tokens (the kernels
// take up to 8 tokens per pass; matmul passes blocks of 64 tokens), 1 and 2 threads. Weights are random bytes (every nibble,
// quant and sign pattern) with finite scales.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/cpu_lane.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "cpu/packed_kernels.h"
#include "cpu/quant_ref.h"
#include "gemv_test_util.h"

namespace tandem {
namespace {

constexpr DType kTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                            DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<int64_t> cols_for(DType t) {
  if (traits(t).block_elems == 256) return {256, 768};
  return {32, 96, 4128};
}

TEST(Packed, AvailableOnAvx512AndAvx2) {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  const bool avx512 = cpu::isa_supported(cpu::Isa::kAvx512, f);
  for (DType t : kTypes) {
    EXPECT_EQ(cpu::packable(t, cpu::Isa::kAvx512, f), avx512) << dtype_name(t);
    EXPECT_EQ(cpu::packable(t, cpu::Isa::kAvx2, f), cpu::isa_supported(cpu::Isa::kAvx2, f)) << dtype_name(t);
    EXPECT_FALSE(cpu::packable(t, cpu::Isa::kScalar, f));
  }
  EXPECT_FALSE(cpu::packable(DType::kQ8_1, cpu::Isa::kAvx512, f));
  EXPECT_FALSE(cpu::packable(DType::kF16, cpu::Isa::kAvx512, f));
}

TEST(Packed, Avx512WithoutVnniUsesTheAvx2Kernels) {
  cpu::CpuFeatures f;  // Skylake-SP: AVX-512 F/BW/VL/DQ, no VNNI (pure functions: any CPU runs this)
  f.os_ymm = f.os_zmm = f.avx2 = f.fma = f.f16c = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = true;
  ASSERT_TRUE(cpu::isa_supported(cpu::Isa::kAvx512, f));
  for (bool avx_vnni : {false, true}) {
    f.avx_vnni = avx_vnni;
    for (DType t : kTypes) {
      EXPECT_EQ(cpu::packable(t, cpu::Isa::kAvx512, f), cpu::packable(t, cpu::Isa::kAvx2, f)) << dtype_name(t);
      EXPECT_TRUE(cpu::packable(t, cpu::Isa::kAvx512, f)) << dtype_name(t);
      EXPECT_EQ(cpu::select_packed_gemm(t, cpu::Isa::kAvx512, f), cpu::select_packed_gemm_avx2(t, avx_vnni))
          << dtype_name(t) << (avx_vnni ? " avx-vnni" : " plain");
    }
  }
  f.avx512_vnni = true;  // Cascade Lake and later: the AVX-512 VNNI kernels
  for (DType t : kTypes) EXPECT_NE(cpu::select_packed_gemm(t, cpu::Isa::kAvx512, f), cpu::select_packed_gemm_avx2(t, f.avx_vnni));
}

TEST(Packed, MatmulMatchesReferenceBitForBit) {
  if (!cpu::packable(DType::kQ4_0, cpu::Isa::kAvx512)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  int tested = 0;
  for (DType type : kTypes) {
    if (!cpu::packable(type, cpu::Isa::kAvx512)) continue;
    for (int64_t rows : {1, 15, 16, 17, 47, 130}) {
      for (int64_t cols : cols_for(type)) {
        const testing::GemvCase c = testing::raw_case(type, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
        auto packed = cpu::pack_matrix(type, c.w.data(), rows, cols);
        ASSERT_TRUE(packed.is_ok()) << packed.error().message();
        for (int threads : {1, 2}) {
          const cpu::ThreadArena arena(threads);
          const cpu::CpuLane lane{cpu::Isa::kAvx512, &arena};
          for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70}) {
            SCOPED_TRACE(testing::type_name(type) + ": rows=" + std::to_string(rows) + " cols=" +
                         std::to_string(cols) + " tokens=" + std::to_string(n_tokens) +
                         " threads=" + std::to_string(threads));
            std::vector<float> x;  // [n_tokens, cols]
            for (int64_t t = 0; t < n_tokens; ++t) {
              const std::vector<float> row = testing::gaussian_row(cols, static_cast<uint32_t>(300 + t));
              x.insert(x.end(), row.begin(), row.end());
            }
            // One guard value past the end: the last group's padding rows are not stored.
            std::vector<float> y(static_cast<size_t>(n_tokens * rows + 1), NAN);
            cpu::MatmulArgs args{type, c.w.data(), rows, cols, x.data(), n_tokens, y.data()};
            args.packed = &*packed;
            cpu::matmul(lane, args);
            EXPECT_TRUE(std::isnan(y.back())) << "wrote past the output";
            int failures = 0;
            for (int64_t t = 0; t < n_tokens && failures < 5; ++t) {
              std::vector<float> want(static_cast<size_t>(rows));
              cpu::gemv_ref(type, c.w.data(), rows, cols, x.data() + t * cols, want.data());
              for (int64_t r = 0; r < rows && failures < 5; ++r) {
                const float got = y[static_cast<size_t>(t * rows + r)];
                if (!(got == want[static_cast<size_t>(r)])) {
                  ++failures;
                  ADD_FAILURE() << "token " << t << " row " << r << ": packed " << got << ", reference "
                                << want[static_cast<size_t>(r)];
                }
              }
            }
            ++tested;
          }
        }
      }
    }
  }
  EXPECT_GT(tested, 0);
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

// pack_matrices puts many matrices in one allocation: each must hold exactly what
// pack_matrix alone gives, start on a 4 KiB boundary, not overlap the next, and keep the
// shared memory alive for as long as any matrix does. A model-sized set (> 8 MiB) sits
// on a 2 MiB-aligned base. Packing is plain C++: no CPU feature needed.
TEST(Packed, PackMatricesEqualsPackMatrixEach) {
  using testing::GemvCase;
  using testing::raw_case;
  std::vector<GemvCase> cases;
  std::vector<cpu::PackRequest> reqs;
  const int64_t rows[] = {17, 130, 1, 47, 16, 15, 33, 2, 31, 5};
  static_assert(std::size(rows) == std::size(kTypes));
  for (size_t i = 0; i < std::size(kTypes); ++i) {
    const int64_t cols = traits(kTypes[i]).block_elems == 256 ? 768 : 4128;
    cases.push_back(raw_case(kTypes[i], rows[i], cols, static_cast<uint32_t>(900 + i)));
  }
  // One matrix of ~9 MiB so the whole set takes the huge-page path.
  cases.push_back(raw_case(DType::kQ8_0, 2176, 4096, 77));
  for (const GemvCase& c : cases) reqs.push_back({c.type, c.w.data(), c.rows, c.cols});
  std::vector<size_t> order;
  std::vector<cpu::PackedMatrix> all;
  {
    auto r = cpu::pack_matrices(reqs, [&](size_t i) { order.push_back(i); });
    ASSERT_TRUE(r.is_ok()) << r.error().message();
    all = std::move(r.value());
  }
  ASSERT_EQ(all.size(), reqs.size());
  ASSERT_EQ(order.size(), reqs.size());
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(all[0].data) % (size_t{2} << 20), 0u);
  for (size_t i = 0; i < all.size(); ++i) {
    const cpu::PackedMatrix& m = all[i];
    const std::string what = std::string(dtype_name(reqs[i].type)) + " #" + std::to_string(i);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data) % 4096, 0u) << what;
    EXPECT_EQ(m.bytes(), cpu::packed_bytes(reqs[i].type, reqs[i].rows, reqs[i].cols)) << what;
    if (i + 1 < all.size()) {
      EXPECT_LE(m.data + m.bytes(), all[i + 1].data) << what;
    }
    EXPECT_EQ(m.storage.get(), all[0].storage.get()) << what;
    auto one = cpu::pack_matrix(reqs[i].type, reqs[i].w, reqs[i].rows, reqs[i].cols);
    ASSERT_TRUE(one.is_ok()) << what;
    ASSERT_EQ(one.value().bytes(), m.bytes()) << what;
    EXPECT_EQ(std::memcmp(one.value().data, m.data, m.bytes()), 0) << what;
  }
  // The last matrix alone keeps the allocation alive.
  cpu::PackedMatrix last = std::move(all.back());
  const std::vector<uint8_t> before(reinterpret_cast<const uint8_t*>(last.data),
                                    reinterpret_cast<const uint8_t*>(last.data) + last.bytes());
  all.clear();
  EXPECT_EQ(std::memcmp(before.data(), last.data, last.bytes()), 0);
}

TEST(Packed, PackMatricesOfNothing) {
  auto r = cpu::pack_matrices({});
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r.value().empty());
}

}  // namespace
}  // namespace tandem
