// The AVX2 lane's packed kernels (packed_avx2_inl.h, packed_avx2_k23_inl.h): both
// variants, plain AVX2 (vpmaddubsw) and AVX-VNNI (VEX vpdpbusd), each forced, give
// vec_dot_ref's results bit for bit for every packable type (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), row counts around the 16-row group (1, 15, 16,
// 17, 47, 130), several column counts, 1..9 and 17 tokens (Q4_0/Q4_1/Q8_0 and AVX-VNNI
// Q5_0/Q5_1 take 8 per pass, plain Q5_0/Q5_1 and the K types 4), 1 and 2 threads; also at the int16 limits of
// the plain kernels (weights and activations of the largest magnitudes). matmul and
// matmul_shared_input on a kAvx2 lane run the variant this CPU has (under
// `qemu-x86_64 -cpu Haswell`: the plain one). The AVX2 activation quantizers write the
// reference's bytes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "cpu/cpu_lane.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "cpu/packed_kernels.h"
#include "cpu/quant_ref.h"
#include "gemv_test_util.h"

namespace tandem {
namespace {

using cpu::Isa;

constexpr DType kTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                            DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<int64_t> cols_for(DType t) {
  if (!cpu::packed_act32(t)) return {256, 768};  // the K types
  return {32, 96, 4128};
}

bool have_avx2() { return cpu::isa_supported(Isa::kAvx2, cpu::cpu_features()); }
bool have_avx_vnni() { return have_avx2() && cpu::cpu_features().avx_vnni; }

// [n_tokens, cols] Gaussian activations, one seed per token.
std::vector<float> activations(int64_t n_tokens, int64_t cols, uint32_t seed) {
  std::vector<float> x;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const std::vector<float> row = testing::gaussian_row(cols, seed + static_cast<uint32_t>(t));
    x.insert(x.end(), row.begin(), row.end());
  }
  return x;
}

// Runs kernel k on W (packed p) as matmul_packed does: activations converted by the
// AVX2 quantizers into the kernel's format, groups split over `threads` threads.
// Returns [n_tokens, rows] plus one guard value (NaN unless written past the end).
std::vector<float> run_kernel(cpu::PackedGemmFn k, const cpu::PackedMatrix& p, const float* x,
                              int64_t n_tokens, int threads) {
  const DType t = p.type;
  const size_t xrow = cpu::packed_act_row_bytes(t, p.cols);
  const bool act32 = cpu::packed_act32(t);
  const int64_t x_rows = act32 ? (n_tokens + cpu::kActChunk - 1) / cpu::kActChunk * cpu::kActChunk : n_tokens;
  std::vector<std::byte> xq(xrow * static_cast<size_t>(x_rows));
  for (int64_t tok = 0; tok < n_tokens; ++tok) {
    if (act32) {  // token tok's block b at [(tok / 8 * nb + b) * 8 + tok % 8]
      const int64_t nb = p.cols / 32;
      const int64_t first = tok / cpu::kActChunk * nb * cpu::kActChunk + tok % cpu::kActChunk;
      if (cpu::packed_act(t) == cpu::PackedAct::kQ8_1)
        cpu::quantize_act32_q8_1_avx2(x + tok * p.cols, reinterpret_cast<cpu::ActBlockQ8_1*>(xq.data()) + first, nb,
                                      cpu::kActChunk);
      else
        cpu::quantize_act32_avx2(x + tok * p.cols, reinterpret_cast<cpu::ActBlock32*>(xq.data()) + first, nb,
                                 cpu::kActChunk);
    } else {
      cpu::quantize_q8_k_avx2(x + tok * p.cols, reinterpret_cast<BlockQ8_K*>(xq.data() + tok * xrow),
                              p.cols / kQK_K);
    }
  }
  std::vector<float> y(static_cast<size_t>(n_tokens * p.rows + 1), NAN);
  const cpu::ThreadArena arena(threads);
  arena.parallel_for(p.groups, 1, [&](int64_t g0, int64_t g1) {
    cpu::PackedGemm g;
    g.w = &p;
    g.x = xq.data();
    g.x_stride = xrow;
    g.n_tokens = n_tokens;
    g.group_begin = g0;
    g.group_end = g1;
    g.y = y.data();
    g.y_stride = p.rows;
    k(g);
  });
  return y;
}

// Compares y ([n_tokens, rows], then the guard) with gemv_ref, token by token.
void expect_reference(DType type, const void* w, int64_t rows, int64_t cols, const float* x, int64_t n_tokens,
                      const std::vector<float>& y) {
  EXPECT_TRUE(std::isnan(y.back())) << "wrote past the output";
  int failures = 0;
  for (int64_t t = 0; t < n_tokens && failures < 5; ++t) {
    std::vector<float> want(static_cast<size_t>(rows));
    cpu::gemv_ref(type, w, rows, cols, x + t * cols, want.data());
    for (int64_t r = 0; r < rows && failures < 5; ++r) {
      const float got = y[static_cast<size_t>(t * rows + r)];
      if (!(got == want[static_cast<size_t>(r)])) {
        ++failures;
        ADD_FAILURE() << "token " << t << " row " << r << ": packed " << got << ", reference "
                      << want[static_cast<size_t>(r)];
      }
    }
  }
}

// Every type, shape, token count and thread count through the forced variant.
void check_forced_variant(bool vnni) {
  int tested = 0;
  for (DType type : kTypes) {
    const cpu::PackedGemmFn k = cpu::select_packed_gemm_avx2(type, vnni);
    ASSERT_NE(k, nullptr) << testing::type_name(type);
    for (int64_t rows : {1, 15, 16, 17, 47, 130}) {
      for (int64_t cols : cols_for(type)) {
        const testing::GemvCase c = testing::raw_case(type, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
        auto packed = cpu::pack_matrix(type, c.w.data(), rows, cols);
        ASSERT_TRUE(packed.is_ok()) << packed.error().message();
        for (int threads : {1, 2}) {
          for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {
            SCOPED_TRACE(testing::type_name(type) + ": rows=" + std::to_string(rows) + " cols=" +
                         std::to_string(cols) + " tokens=" + std::to_string(n_tokens) +
                         " threads=" + std::to_string(threads));
            const std::vector<float> x = activations(n_tokens, cols, 300);
            expect_reference(type, c.w.data(), rows, cols, x.data(), n_tokens,
                             run_kernel(k, *packed, x.data(), n_tokens, threads));
            ++tested;
          }
        }
      }
    }
  }
  EXPECT_EQ(tested, 2 * 10 * 6 * (5 * 3 + 5 * 2));
}

TEST(PackedAvx2, PlainMatchesReferenceBitForBit) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  check_forced_variant(false);
}

TEST(PackedAvx2, AvxVnniMatchesReferenceBitForBit) {
  if (!have_avx_vnni()) GTEST_SKIP() << "no AVX-VNNI on this CPU";
  check_forced_variant(true);
}

// Weights of the largest magnitudes the plain kernels' int16 sums see (Q4_0/Q4_1/Q4_K
// nibbles 15, Q5_0/Q5_1/Q5_K values 31 (Q5_0/Q5_1 also 0, i.e. -16 for Q5_0), Q8_0 -128 and 127, Q6_K
// values 63 with scales -128 and 127, Q4_K/Q5_K scales and mins 63, Q2_K values 3 with
// scales and mins 15, Q3_K values 3 (low bits 3, third bit set) with scales -32 and 31)
// against activations that quantize to +-127 everywhere: token 0 all +, token 1 all -,
// token 2 the sign alternating per 32 elements; all three in one pass and each alone. A
// saturated vpmaddubsw, int16 sum or int16 scale would change the results.
TEST(PackedAvx2, Int16LimitsMatchReference) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  constexpr int64_t kRows = 17, kCols = 512, kTokens = 3;
  std::vector<float> x(static_cast<size_t>(kTokens * kCols));
  for (int64_t i = 0; i < kCols; ++i) {
    x[static_cast<size_t>(i)] = 1.0f;
    x[static_cast<size_t>(kCols + i)] = -1.0f;
    x[static_cast<size_t>(2 * kCols + i)] = (i / 32) % 2 == 0 ? 0.5f : -0.5f;
  }
  for (DType type : kTypes) {
    testing::GemvCase c = testing::raw_case(type, kRows, kCols, 5);
    for (int64_t r = 0; r < kRows; ++r) {
      uint8_t* row = c.w.data() + static_cast<size_t>(r) * c.w_row;
      const bool odd = r % 2 == 1;
      for (int64_t b = 0; b < kCols / 32; ++b) {
        if (type == DType::kQ4_0) std::memset(reinterpret_cast<BlockQ4_0*>(row)[b].qs, 0xff, 16);
        if (type == DType::kQ4_1) std::memset(reinterpret_cast<BlockQ4_1*>(row)[b].qs, 0xff, 16);
        if (type == DType::kQ5_1) {  // every value 31 (no offset: 0 is the smallest magnitude)
          auto& blk = reinterpret_cast<BlockQ5_1*>(row)[b];
          std::memset(blk.qs, 0xff, sizeof(blk.qs));
          std::memset(blk.qh, 0xff, sizeof(blk.qh));
        }
        if (type == DType::kQ8_0) std::memset(reinterpret_cast<BlockQ8_0*>(row)[b].qs, odd ? 0x7f : 0x80, 32);
        if (type == DType::kQ5_0) {
          auto& blk = reinterpret_cast<BlockQ5_0*>(row)[b];
          std::memset(blk.qs, odd ? 0x00 : 0xff, sizeof(blk.qs));
          std::memset(blk.qh, odd ? 0x00 : 0xff, sizeof(blk.qh));
        }
      }
      for (int64_t b = 0; b < kCols / kQK_K; ++b) {
        if (type == DType::kQ4_K) {
          auto& blk = reinterpret_cast<BlockQ4_K*>(row)[b];
          std::memset(blk.qs, 0xff, sizeof(blk.qs));
          std::memset(blk.scales, 0xff, sizeof(blk.scales));  // every 6-bit scale and min 63
        }
        if (type == DType::kQ5_K) {
          auto& blk = reinterpret_cast<BlockQ5_K*>(row)[b];
          std::memset(blk.qs, 0xff, sizeof(blk.qs));
          std::memset(blk.qh, 0xff, sizeof(blk.qh));
          std::memset(blk.scales, 0xff, sizeof(blk.scales));
        }
        if (type == DType::kQ2_K) {
          auto& blk = reinterpret_cast<BlockQ2_K*>(row)[b];
          std::memset(blk.qs, 0xff, sizeof(blk.qs));
          std::memset(blk.scales, 0xff, sizeof(blk.scales));  // scale and min 15
        }
        if (type == DType::kQ3_K) {
          auto& blk = reinterpret_cast<BlockQ3_K*>(row)[b];
          std::memset(blk.qs, 0xff, sizeof(blk.qs));
          std::memset(blk.hmask, 0xff, sizeof(blk.hmask));
          std::memset(blk.scales, odd ? 0x00 : 0xff, sizeof(blk.scales));  // every scale -32 or 31
        }
        if (type == DType::kQ6_K) {
          auto& blk = reinterpret_cast<BlockQ6_K*>(row)[b];
          std::memset(blk.ql, 0xff, sizeof(blk.ql));
          std::memset(blk.qh, 0xff, sizeof(blk.qh));
          for (int s = 0; s < 16; ++s) blk.scales[s] = static_cast<int8_t>(odd == (s % 2 == 0) ? 127 : -128);
        }
      }
    }
    auto packed = cpu::pack_matrix(type, c.w.data(), kRows, kCols);
    ASSERT_TRUE(packed.is_ok());
    for (bool vnni : {false, true}) {
      if (vnni && !have_avx_vnni()) continue;
      SCOPED_TRACE(testing::type_name(type) + (vnni ? " avx-vnni" : " avx2"));
      const cpu::PackedGemmFn k = cpu::select_packed_gemm_avx2(type, vnni);
      expect_reference(type, c.w.data(), kRows, kCols, x.data(), kTokens,
                       run_kernel(k, *packed, x.data(), kTokens, 1));
      for (int64_t t = 0; t < kTokens; ++t) {  // one token alone: its own code (two chains on VNNI)
        SCOPED_TRACE("token " + std::to_string(t) + " alone");
        const float* xt = x.data() + t * kCols;
        expect_reference(type, c.w.data(), kRows, kCols, xt, 1, run_kernel(k, *packed, xt, 1, 1));
      }
    }
  }
}

TEST(PackedAvx2, AvailableWithAvx2) {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  for (DType t : kTypes) {
    EXPECT_EQ(cpu::packable(t, Isa::kAvx2, f), have_avx2()) << testing::type_name(t);
    EXPECT_NE(cpu::select_packed_gemm_avx2(t, false), cpu::select_packed_gemm_avx2(t, true));
    if (have_avx2()) {
      EXPECT_EQ(cpu::select_packed_gemm(t, Isa::kAvx2), cpu::select_packed_gemm_avx2(t, f.avx_vnni));
    }
    cpu::CpuFeatures no_fma = f;
    no_fma.fma = false;
    EXPECT_FALSE(cpu::packable(t, Isa::kAvx2, no_fma));
  }
  for (DType t : {DType::kQ8_1, DType::kQ8_K, DType::kF16}) {
    EXPECT_FALSE(cpu::packable(t, Isa::kAvx2, f)) << testing::type_name(t);
    EXPECT_EQ(cpu::select_packed_gemm_avx2(t, true), nullptr);
  }
  // cpuid.(7,1):EAX[4] as the compiler's own probe reads it.
  EXPECT_EQ(f.avx_vnni, static_cast<bool>(__builtin_cpu_supports("avxvnni")));
  cpu::CpuFeatures vnni = f;
  vnni.avx_vnni = true;
  EXPECT_EQ(cpu::describe_isa(Isa::kAvx2, vnni), "avx2 (avx-vnni)");
  vnni.avx_vnni = false;
  EXPECT_EQ(cpu::describe_isa(Isa::kAvx2, vnni), "avx2");
}

// matmul with a packed matrix on a kAvx2 lane: the lane's quantizers and this CPU's
// variant, through matmul's own splitting (one contiguous share per thread for one
// token, dynamic chunks for more).
TEST(PackedAvx2, MatmulMatchesReferenceBitForBit) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  for (DType type : kTypes) {
    for (int64_t rows : {1, 17, 130}) {
      for (int64_t cols : cols_for(type)) {
        const testing::GemvCase c = testing::raw_case(type, rows, cols, static_cast<uint32_t>(rows * 5 + cols));
        auto packed = cpu::pack_matrix(type, c.w.data(), rows, cols);
        ASSERT_TRUE(packed.is_ok());
        for (int threads : {1, 2}) {
          const cpu::ThreadArena arena(threads);
          const cpu::CpuLane lane{Isa::kAvx2, &arena};
          for (int64_t n_tokens : {1, 3, 8, 9, 17}) {
            SCOPED_TRACE(testing::type_name(type) + ": rows=" + std::to_string(rows) + " cols=" +
                         std::to_string(cols) + " tokens=" + std::to_string(n_tokens) +
                         " threads=" + std::to_string(threads));
            const std::vector<float> x = activations(n_tokens, cols, 500);
            std::vector<float> y(static_cast<size_t>(n_tokens * rows + 1), NAN);
            cpu::MatmulArgs args{type, c.w.data(), rows, cols, x.data(), n_tokens, y.data()};
            args.packed = &*packed;
            cpu::matmul(lane, args);
            expect_reference(type, c.w.data(), rows, cols, x.data(), n_tokens, y);
          }
        }
      }
    }
  }
}

// matmul_shared_input on kAvx2 and kAvx512 lanes: three matrices sharing one
// activation format (Q4_0, Q5_0 and Q8_0 share ActBlock32, Q4_1 and Q5_1 ActBlockQ8_1,
// the K types Q8_K rows) in one pass, also past 64 tokens (blocks of tokens over tiles
// of groups), a set with an unpacked matrix (one by one), and sets mixing ActBlock32
// and ActBlockQ8_1 types (the same block size and chunks, but not one conversion).
TEST(PackedAvx2, SharedInputMatchesReferenceOnEveryLane) {
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
  const cpu::ThreadArena arena(2);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!cpu::isa_supported(isa, cpu::cpu_features())) continue;
    SCOPED_TRACE(cpu::isa_name(isa));
    const cpu::CpuLane lane{isa, &arena};
    const DType sets[][3] = {{DType::kQ4_0, DType::kQ8_0, DType::kQ4_0},
                             {DType::kQ4_K, DType::kQ6_K, DType::kQ6_K},
                             {DType::kQ5_0, DType::kQ4_0, DType::kQ5_0},
                             {DType::kQ2_K, DType::kQ3_K, DType::kQ5_K},
                             {DType::kQ4_1, DType::kQ5_1, DType::kQ4_1},
                             {DType::kQ5_1, DType::kQ4_0, DType::kQ4_1},
                             {DType::kQ8_0, DType::kQ4_1, DType::kQ6_K}};
    for (const auto& types : sets) {
      constexpr int64_t kCols = 4352;  // 136 blocks of 32, 17 of 256
      const int64_t rows[] = {130, 33, 33};
      std::vector<testing::GemvCase> cases;
      std::vector<cpu::PackedMatrix> packed;
      for (int i = 0; i < 3; ++i) {
        cases.push_back(testing::raw_case(types[i], rows[i], kCols, static_cast<uint32_t>(40 + i)));
        auto p = cpu::pack_matrix(types[i], cases.back().w.data(), rows[i], kCols);
        ASSERT_TRUE(p.is_ok());
        packed.push_back(std::move(*p));
      }
      for (int64_t n_tokens : {1, 5, 70}) {
        for (bool all_packed : {true, false}) {
          SCOPED_TRACE(testing::type_name(types[0]) + " set, tokens=" + std::to_string(n_tokens) +
                       (all_packed ? " all packed" : " one unpacked"));
          const std::vector<float> x = activations(n_tokens, kCols, 900);
          std::vector<std::vector<float>> y(3);
          std::vector<cpu::MatmulArgs> args;
          for (size_t i = 0; i < 3; ++i) {
            y[i].assign(static_cast<size_t>(n_tokens * rows[i] + 1), NAN);
            args.push_back({types[i], cases[i].w.data(), rows[i], kCols, x.data(), n_tokens, y[i].data()});
            if (all_packed || i != 1) args.back().packed = &packed[i];
          }
          cpu::matmul_shared_input(lane, args);
          for (size_t i = 0; i < 3; ++i) {
            SCOPED_TRACE("matrix " + std::to_string(i));
            expect_reference(types[i], cases[i].w.data(), rows[i], kCols, x.data(), n_tokens, y[i]);
          }
        }
      }
    }
  }
}

// The SIMD activation quantizers of every ISA this CPU has (packed_kernels.h: the same
// signature on AVX2 and AVX-512), each checked against the reference's bytes.
template <typename Fn>
struct Quantizer {
  Isa isa;
  Fn fn;
};
template <typename Fn>
std::vector<Quantizer<Fn>> available(std::initializer_list<Quantizer<Fn>> all) {
  std::vector<Quantizer<Fn>> v;
  for (const Quantizer<Fn>& q : all)
    if (cpu::isa_supported(q.isa, cpu::cpu_features())) v.push_back(q);
  return v;
}

// quantize_act32_{avx2,avx512} give quantize_packed_act's bytes (quantize_row_ref's Q8_0
// blocks), written every other slot: Gaussian rows at several scales, an all-zero block,
// values that land exactly on .5 after scaling (ties round away from zero), tiny values
// whose scale is an f16 subnormal.
TEST(PackedAvx2, ActivationQuantizersMatchReference) {
  using Fn = void (*)(const float*, cpu::ActBlock32*, int64_t, int64_t);
  const auto quantizers = available<Fn>({{Isa::kAvx2, cpu::quantize_act32_avx2}, {Isa::kAvx512, cpu::quantize_act32_avx512}});
  if (quantizers.empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  constexpr int64_t kBlocks = 64;
  std::vector<float> x = testing::gaussian_row(32 * kBlocks, 7);
  for (int64_t i = 0; i < 32 * kBlocks; ++i) x[static_cast<size_t>(i)] *= static_cast<float>(1 << (i / 256));
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(32 + i)] = 0.0f;
  for (int i = 0; i < 32; ++i)
    x[static_cast<size_t>(64 + i)] = (i == 0 ? 127.0f : static_cast<float>(i) + 0.5f) * (i % 2 ? -1 : 1);
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(96 + i)] = 1e-9f * static_cast<float>(i - 16);
  std::vector<cpu::ActBlock32> want(kBlocks);
  cpu::quantize_packed_act(DType::kQ4_0, x.data(), want.data(), 32 * kBlocks);
  EXPECT_EQ(want[2].qs[1], -2);  // -1.5 rounds away from zero (d = 1 exactly)
  EXPECT_EQ(want[2].qs[2], 3);
  for (const auto& q : quantizers) {
    SCOPED_TRACE(cpu::isa_name(q.isa));
    std::vector<cpu::ActBlock32> got(2 * kBlocks);
    q.fn(x.data(), got.data(), kBlocks, 2);  // every other slot
    for (int64_t b = 0; b < kBlocks; ++b) {
      SCOPED_TRACE("block " + std::to_string(b));
      const cpu::ActBlock32& w = want[static_cast<size_t>(b)];
      const cpu::ActBlock32& g = got[static_cast<size_t>(2 * b)];
      EXPECT_EQ(g.d, w.d);
      EXPECT_EQ(g.sum, w.sum);
      for (int i = 0; i < 32; ++i) EXPECT_EQ(g.qs[i], w.qs[i]) << "element " << i;
    }
  }
}

// quantize_act32_q8_1_{avx2,avx512} give quantize_packed_act's ActBlockQ8_1 blocks
// (quantize_row_ref's Q8_1 blocks, d and s widened), written every other slot: the
// inputs above, plus blocks whose s = sum * d is an f16 subnormal, overflows f16 (all
// elements large and of one sign), is exactly zero with nonzero elements, and lands on
// a rounding boundary of f16 often (integers: d = amax / 127, sum * d).
TEST(PackedAvx2, Q8_1ActivationQuantizersMatchReference) {
  using Fn = void (*)(const float*, cpu::ActBlockQ8_1*, int64_t, int64_t);
  const auto quantizers =
      available<Fn>({{Isa::kAvx2, cpu::quantize_act32_q8_1_avx2}, {Isa::kAvx512, cpu::quantize_act32_q8_1_avx512}});
  if (quantizers.empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  constexpr int64_t kBlocks = 72;
  std::vector<float> x = testing::gaussian_row(32 * kBlocks, 11);
  for (int64_t i = 0; i < 32 * kBlocks; ++i) x[static_cast<size_t>(i)] *= static_cast<float>(1 << (i / 256));
  const auto block = [&](int b) { return x.data() + 32 * b; };
  for (int i = 0; i < 32; ++i) block(1)[i] = 0.0f;
  for (int i = 0; i < 32; ++i) block(2)[i] = (i == 0 ? 127.0f : static_cast<float>(i) + 0.5f) * (i % 2 ? -1 : 1);
  for (int i = 0; i < 32; ++i) block(3)[i] = 1e-9f * static_cast<float>(i - 16);
  for (int i = 0; i < 32; ++i) block(4)[i] = 30000.0f + static_cast<float>(i);  // s = 4064 * 236 > 65504
  for (int i = 0; i < 32; ++i) block(5)[i] = (i % 2 ? -1.0f : 1.0f) * 3.0f;    // sum 0
  for (int i = 0; i < 32; ++i) block(6)[i] = static_cast<float>(i);             // integers 0 .. 31
  for (int i = 0; i < 32; ++i) block(7)[i] = 1e-7f * static_cast<float>(i);     // s below f16's normals
  std::vector<cpu::ActBlockQ8_1> want(kBlocks);
  cpu::quantize_packed_act(DType::kQ4_1, x.data(), want.data(), 32 * kBlocks);
  EXPECT_TRUE(std::isinf(want[4].s)) << want[4].s;
  EXPECT_EQ(want[5].s, 0.0f);
  EXPECT_LT(want[7].s, 6.2e-5f);  // an f16 subnormal ...
  EXPECT_GT(want[7].s, 0.0f);     // ... not flushed
  std::vector<BlockQ8_1> ref(kBlocks);
  cpu::quantize_row_ref(DType::kQ8_1, x.data(), ref.data(), 32 * kBlocks);
  for (int64_t b = 0; b < kBlocks; ++b) {  // quantize_packed_act: the Q8_1 block, widened
    const size_t i = static_cast<size_t>(b);
    EXPECT_EQ(want[i].d, fp16_to_f32(ref[i].d)) << "block " << b;
    EXPECT_EQ(want[i].s, fp16_to_f32(ref[i].s)) << "block " << b;
    EXPECT_EQ(std::memcmp(want[i].qs, ref[i].qs, 32), 0) << "block " << b;
  }
  for (const auto& q : quantizers) {
    SCOPED_TRACE(cpu::isa_name(q.isa));
    std::vector<cpu::ActBlockQ8_1> got(2 * kBlocks);
    q.fn(x.data(), got.data(), kBlocks, 2);  // every other slot
    for (int64_t b = 0; b < kBlocks; ++b) {
      SCOPED_TRACE("block " + std::to_string(b));
      const cpu::ActBlockQ8_1& w = want[static_cast<size_t>(b)];
      const cpu::ActBlockQ8_1& g = got[static_cast<size_t>(2 * b)];
      EXPECT_EQ(g.d, w.d);
      EXPECT_EQ(std::bit_cast<uint32_t>(g.s), std::bit_cast<uint32_t>(w.s)) << g.s << " vs " << w.s;
      for (int i = 0; i < 32; ++i) EXPECT_EQ(g.qs[i], w.qs[i]) << "element " << i;
    }
  }
}

// quantize_q8_k_{avx2,avx512} give quantize_row_ref's bytes: Gaussian blocks at several
// scales, an all-zero block, a block whose largest magnitude appears first negative then
// positive (the first one sets the sign), ties of magnitude.
TEST(PackedAvx2, Q8KQuantizersMatchReference) {
  using Fn = void (*)(const float*, BlockQ8_K*, int64_t);
  const auto quantizers = available<Fn>({{Isa::kAvx2, cpu::quantize_q8_k_avx2}, {Isa::kAvx512, cpu::quantize_q8_k_avx512}});
  if (quantizers.empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  constexpr int64_t kBlocks = 8;
  std::vector<float> x = testing::gaussian_row(256 * kBlocks, 17);
  for (int64_t i = 0; i < 256 * kBlocks; ++i) x[static_cast<size_t>(i)] *= static_cast<float>(1 << (i / 512));
  for (int i = 0; i < 256; ++i) x[static_cast<size_t>(256 + i)] = 0.0f;
  x[512 + 40] = -9.0f;
  x[512 + 200] = 9.0f;
  x[768 + 3] = 2.0f;
  x[768 + 4] = -2.0f;
  x[768 + 5] = -1.999999f;
  std::vector<BlockQ8_K> want(kBlocks);
  cpu::quantize_row_ref(DType::kQ8_K, x.data(), want.data(), 256 * kBlocks);
  EXPECT_EQ(want[2].qs[40], -127);  // the first extreme (-9) maps to -127 ...
  EXPECT_EQ(want[2].qs[200], 127);  // ... and +9 to +127
  for (const auto& q : quantizers) {
    SCOPED_TRACE(cpu::isa_name(q.isa));
    std::vector<BlockQ8_K> got(kBlocks);
    q.fn(x.data(), got.data(), kBlocks);
    for (int64_t b = 0; b < kBlocks; ++b) {
      SCOPED_TRACE("block " + std::to_string(b));
      const BlockQ8_K& w = want[static_cast<size_t>(b)];
      const BlockQ8_K& g = got[static_cast<size_t>(b)];
      EXPECT_EQ(g.d, w.d);
      for (int i = 0; i < 256; ++i) EXPECT_EQ(g.qs[i], w.qs[i]) << "element " << i;
      for (int i = 0; i < 16; ++i) EXPECT_EQ(g.bsums[i], w.bsums[i]) << "group " << i;
    }
  }
}

}  // namespace
}  // namespace tandem
