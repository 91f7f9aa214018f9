// gemm_quant (f16 panels + cuBLAS) for every weight type against f64 sums on the CPU.
//
// Two checks per output, both from the bound stated in gpu/cuda/gemm_quant.h:
//  - tight: against the f64 sum over the half-rounded weights and activations (what the
//    GPU multiplies), within gamma S' = cols 2^-22 sum_c |w~ x~|: only the order and
//    precision of the f32 sums may differ, so a wrong row, token, panel or stride fails;
//  - total: against the f64 sum over the reference's f32 weights and the f32 x, within
//    (2u + u^2) S + 2^-24 sum_c (|w| + |x|) + cols 2^-50 + gamma S' (u = 2^-11): the
//    price of the f16 path itself.
// And an exact case: weights and activations that are small multiples of powers of two,
// exact in half, with every partial sum exact in f32, so the result must equal the f64
// sum bit for bit whatever order cuBLAS sums in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gpu/cuda/cublas_handle.h"
#include "gpu/cuda/gemm_quant.h"
#include "gpu_test_util.h"
#include "quant_matrix.h"

namespace tandem::gpu {
namespace {

using testing::QuantMatrix;
using testing::RowKind;

float round_half(float v) { return fp16_to_f32(f32_to_fp16(v)); }

class GemmQuantTest : public testing::GpuTest {
 public:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    auto h = CublasHandle::create();
    ASSERT_TRUE(h) << h.error().message();
    blas_ = std::move(*h);
    const Status st = blas_.set_stream(stream());
    ASSERT_TRUE(st) << st.error().message();
  }

  // y [n, rows] of W x, with a weight workspace of ws_rows rows (0: the whole matrix).
  std::vector<float> run(const QuantMatrix& m, const std::vector<float>& x, int32_t n, int64_t ws_rows = 0) {
    DeviceBuffer dw = upload(m.bytes), dx = upload(x);
    const uint64_t wb = gemm_panel_bytes(ws_rows > 0 ? ws_rows : m.rows, m.cols);
    const uint64_t ib = gemm_input_bytes(m.cols, n);
    auto w16 = alloc_->allocate(wb, "weight workspace");
    auto x16 = alloc_->allocate(ib, "input workspace");
    auto dy = alloc_->allocate(static_cast<uint64_t>(n) * m.rows * 4, "y");
    EXPECT_TRUE(w16 && x16 && dy);
    if (!w16 || !x16 || !dy) return {};
    const GemmWorkspace ws{w16->data(), wb, x16->data(), ib};
    const Status st = gemm_quant(blas_.get(), m.type, dw.data(), dx.as<float>(), dy->as<float>(),
                                 GemmShape{m.rows, m.cols, n}, ws, stream());
    EXPECT_TRUE(st) << st.error().message();
    return download<float>(*dy, static_cast<size_t>(n) * m.rows);
  }

  CublasHandle blas_;
};

// The two checks of the file comment over every output.
void check_product(const QuantMatrix& m, const std::vector<float>& x, int32_t n, const std::vector<float>& y,
                   const std::string& what) {
  ASSERT_EQ(y.size(), static_cast<size_t>(n) * m.rows) << what;
  const double u = std::ldexp(1.0, -11), gamma = static_cast<double>(m.cols) * std::ldexp(1.0, -22);
  std::vector<float> wr(m.deq.size()), xr(x.size());
  for (size_t i = 0; i < wr.size(); ++i) wr[i] = round_half(m.deq[i]);
  for (size_t i = 0; i < xr.size(); ++i) xr[i] = round_half(x[i]);
  int64_t bad_tight = 0, bad_total = 0;
  std::string first;
  for (int32_t t = 0; t < n; ++t) {
    const float* xt = x.data() + static_cast<int64_t>(t) * m.cols;
    const float* xrt = xr.data() + static_cast<int64_t>(t) * m.cols;
    for (int64_t r = 0; r < m.rows; ++r) {
      const float* w = m.deq.data() + r * m.cols;
      const float* wrr = wr.data() + r * m.cols;
      double exact = 0, s = 0, mags = 0, rounded = 0, s16 = 0;
      for (int64_t c = 0; c < m.cols; ++c) {
        const double p = static_cast<double>(w[c]) * xt[c], q = static_cast<double>(wrr[c]) * xrt[c];
        exact += p;
        s += std::fabs(p);
        mags += std::fabs(w[c]) + std::fabs(xt[c]);
        rounded += q;
        s16 += std::fabs(q);
      }
      const double got = y[static_cast<size_t>(t) * m.rows + r];
      const double tight = gamma * s16;
      const double total = (2 * u + u * u) * s + std::ldexp(mags, -24) + m.cols * std::ldexp(1.0, -50) + tight;
      const bool ok_tight = std::fabs(got - rounded) <= tight, ok_total = std::fabs(got - exact) <= total;
      bad_tight += !ok_tight;
      bad_total += !ok_total;
      if ((!ok_tight || !ok_total) && bad_tight + bad_total <= 5)
        first += "\n  token " + std::to_string(t) + " row " + std::to_string(r) + ": gpu " + std::to_string(got) +
                 ", f64 over halves " + std::to_string(rounded) + " (+-" + std::to_string(tight) + "), exact " +
                 std::to_string(exact) + " (+-" + std::to_string(total) + ")";
    }
  }
  EXPECT_EQ(bad_tight + bad_total, 0) << what << ": " << bad_tight << " outside the f32-sum bound, " << bad_total
                                      << " outside the total bound, of " << n * m.rows << first;
}

std::string name(const QuantMatrix& m, int32_t n, int64_t ws_rows = 0) {
  return std::string(dtype_name(m.type)) + " rows " + std::to_string(m.rows) + " cols " + std::to_string(m.cols) +
         " tokens " + std::to_string(n) + (ws_rows ? " workspace rows " + std::to_string(ws_rows) : "");
}

bool is_k_quant(DType t) { return traits(t).block_elems == 256; }

TEST_F(GemmQuantTest, EveryTypeMatchesTheF64Reference) {
  for (DType type : testing::kWeightTypes) {
    const bool k = is_k_quant(type);
    struct Case {
      int64_t rows, cols;
      std::vector<int32_t> tokens;
    };
    const Case cases[] = {
        {67, k ? 512 : 96, {9, 64, 200, 512}},
        {4099, k ? 256 : 128, {9, 64}},
        {67, k ? 4352 : 4128, {200}},
    };
    for (const Case& c : cases) {
      const QuantMatrix m = testing::make_quant_matrix(type, c.rows, c.cols, RowKind::kNormal, c.rows * 7 + c.cols);
      for (int32_t n : c.tokens) {
        const auto x = testing::random_floats_for(static_cast<size_t>(n) * c.cols, c.cols * 31 + n);
        check_product(m, x, n, run(m, x, n), name(m, n));
        if (HasFatalFailure()) return;
      }
    }
  }
}

// The output head's case: a matrix larger than the workspace runs in panels (1000
// workspace rows: panels of 992, the last of 131 rows; 333: panels of 320 and 259;
// 7: 585 panels of 7 and one of 4).
TEST_F(GemmQuantTest, PanelsOfALimitedWorkspace) {
  for (DType type : {DType::kQ4_0, DType::kF16, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t cols = is_k_quant(type) ? 512 : 96;
    const QuantMatrix m = testing::make_quant_matrix(type, 4099, cols, RowKind::kNormal, 99);
    for (auto [n, ws_rows] : {std::pair<int32_t, int64_t>{64, 1000}, {9, 7}, {17, 333}}) {
      const auto x = testing::random_floats_for(static_cast<size_t>(n) * cols, 5 + n);
      check_product(m, x, n, run(m, x, n, ws_rows), name(m, n, ws_rows));
    }
  }
}

// Weights W = N 2^-a and activations x = J 2^-b with small integers N, J: exact in half,
// every product exact in f32, and every partial sum a multiple of 2^-(a+b) below 2^23
// of them, so exact in f32 in any order: the GPU must give the f64 sum itself.
struct ExactCase {
  DType type;
  int64_t cols;
  int a;      // weights are multiples of 2^-a
  int b;      // activations are multiples of 2^-b ...
  int x_max;  // ... J in [-x_max, x_max]
};

QuantMatrix exact_weights(const ExactCase& e, int64_t rows, uint64_t seed) {
  QuantMatrix m{e.type, rows, e.cols, cpu::quantized_row_bytes(e.type, e.cols), {}, {}};
  m.bytes.resize(m.row_bytes * static_cast<size_t>(rows));
  std::mt19937_64 rng(seed);
  for (uint8_t& b : m.bytes) b = static_cast<uint8_t>(rng());
  const size_t n_blocks = m.bytes.size() / static_cast<size_t>(traits(e.type).block_bytes);
  const uint16_t scale = f32_to_fp16(std::ldexp(1.f, -e.a));
  switch (e.type) {
    case DType::kF16: {  // N in [-64, 64]
      auto* h = reinterpret_cast<uint16_t*>(m.bytes.data());
      for (size_t i = 0; i < m.bytes.size() / 2; ++i)
        h[i] = f32_to_fp16(std::ldexp(static_cast<float>(static_cast<int>(rng() % 129) - 64), -e.a));
      break;
    }
    case DType::kQ8_0:  // q in [-128, 127], d = 2^-a
      for (size_t i = 0; i < n_blocks; ++i) reinterpret_cast<BlockQ8_0*>(m.bytes.data())[i].d = scale;
      break;
    case DType::kQ4_K:  // d = dmin = 2^-a: W = (sc q - m) 2^-a, |sc q - m| <= 1008
      for (size_t i = 0; i < n_blocks; ++i) {
        auto& b = reinterpret_cast<BlockQ4_K*>(m.bytes.data())[i];
        b.d = b.dmin = scale;
      }
      break;
    default:
      ADD_FAILURE() << "no exact weights for " << dtype_name(e.type);
  }
  testing::finish(m);
  return m;
}

TEST_F(GemmQuantTest, ExactWhenValuesAndSumsAreExact) {
  const ExactCase cases[] = {
      {DType::kF16, 2048, 6, 3, 16},
      {DType::kQ8_0, 2048, 6, 3, 16},
      {DType::kQ4_K, 1024, 8, 3, 4},
  };
  for (const ExactCase& e : cases) {
    const QuantMatrix m = exact_weights(e, 67, static_cast<uint64_t>(e.type));
    for (int32_t n : {1, 9, 200}) {
      std::mt19937_64 rng(n);
      std::vector<float> x(static_cast<size_t>(n) * e.cols);
      for (float& v : x)
        v = std::ldexp(static_cast<float>(static_cast<int>(rng() % (2 * e.x_max + 1)) - e.x_max), -e.b);
      // The premise, checked: W exact in half, every |partial sum| < 2^23 units of 2^-(a+b).
      for (float w : m.deq) {
        const double units = std::ldexp(static_cast<double>(w), e.a);
        ASSERT_EQ(units, std::round(units)) << dtype_name(e.type) << " weight " << w;
        ASSERT_LE(std::fabs(units), 2048.0) << dtype_name(e.type) << " weight " << w;
      }
      const auto y = run(m, x, n);
      ASSERT_EQ(y.size(), static_cast<size_t>(n) * m.rows);
      int64_t bad = 0;
      std::string first;
      for (int32_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < m.rows; ++r) {
          double sum = 0, mag = 0;
          for (int64_t c = 0; c < e.cols; ++c) {
            const double p = static_cast<double>(m.deq[r * e.cols + c]) * x[static_cast<size_t>(t) * e.cols + c];
            sum += p;
            mag += std::fabs(p);
          }
          ASSERT_LT(std::ldexp(mag, e.a + e.b), std::ldexp(1.0, 23)) << "the case's own premise";
          const float got = y[static_cast<size_t>(t) * m.rows + r];
          if (got != static_cast<float>(sum) && ++bad <= 5)
            first += "\n  token " + std::to_string(t) + " row " + std::to_string(r) + ": gpu " +
                     std::to_string(got) + " exact " + std::to_string(sum);
        }
      }
      EXPECT_EQ(bad, 0) << name(m, n) << ": " << bad << " of " << n * m.rows << " not exact" << first;
    }
  }
}

TEST_F(GemmQuantTest, RefusesAHandleOnAnotherStream) {
  auto other = CudaStream::create();
  ASSERT_TRUE(other);
  ASSERT_TRUE(blas_.set_stream(other->get()));
  const QuantMatrix m = testing::make_quant_matrix(DType::kQ4_0, 16, 64, RowKind::kNormal, 1);
  DeviceBuffer dw = upload(m.bytes);
  auto ws = alloc_->allocate(1 << 20, "ws");
  ASSERT_TRUE(ws);
  const Status st = gemm_quant(blas_.get(), DType::kQ4_0, dw.data(), ws->as<float>(), ws->as<float>(),
                               GemmShape{16, 64, 9}, GemmWorkspace{ws->data(), 4096, ws->data(), 4096}, stream());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
  EXPECT_NE(st.error().message().find("stream"), std::string::npos) << st.error().message();
  ASSERT_TRUE(blas_.set_stream(stream()));  // before `other` is destroyed
}

// Arguments off the contract are refused before any CUDA or cuBLAS call, so this runs
// without a device (no pointer is dereferenced, the null handle is never used).
TEST(GemmQuantContract, RefusedBeforeAnyLaunch) {
  void* p = reinterpret_cast<void*>(uintptr_t{0x10000});
  auto* f = static_cast<float*>(p);
  const GemmWorkspace ws{p, 1 << 20, p, 1 << 20};
  const auto refused = [&](DType t, const void* w, GemmShape s, const GemmWorkspace& w_s, const char* needle) {
    const Status st = gemm_quant(nullptr, t, w, f, f, s, w_s, nullptr);
    ASSERT_FALSE(st) << needle;
    EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
    EXPECT_NE(st.error().message().find(needle), std::string::npos) << st.error().message();
  };
  refused(DType::kF32, p, {64, 64, 9}, ws, "no f16 dequantizer");
  refused(DType::kQ4_K, p, {64, 64, 9}, ws, "multiple of 256");
  refused(DType::kQ4_0, p, {64, 64, 0}, ws, "tokens 0");
  refused(DType::kQ4_0, p, {64, 64, 9}, GemmWorkspace{p, 64, p, 1 << 20}, "weight workspace has 64 bytes");
  refused(DType::kQ4_0, p, {64, 64, 9}, GemmWorkspace{p, 1 << 20, p, 100}, "input workspace has 100 bytes");
  refused(DType::kQ4_0, static_cast<char*>(p) + 2, {64, 64, 9}, ws, "16-byte aligned");
  refused(DType::kQ4_0, p, {64, 64, 9}, GemmWorkspace{static_cast<char*>(p) + 8, 1 << 20, p, 1 << 20},
          "16-byte aligned");
  refused(DType::kQ4_0, p, {64, 64, 9}, ws, "no cuBLAS handle");
}

}  // namespace
}  // namespace tandem::gpu
