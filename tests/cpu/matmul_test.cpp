// matmul (the engine's linear layer) on every supported ISA, 1 and 2 threads, 1..8
// tokens, against gemv_ref token by token: bit-identical for quantized weights, within
// the summation-order bound for F16 (gemv_test_util.h).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpu/cpu_lane.h"
#include "cpu/matmul.h"
#include "cpu/quant_ref.h"
#include "gemv_test_util.h"

namespace tandem {
namespace {

struct Shape {
  DType type;
  int64_t rows, cols;
};

// Q8_0 at 4128 columns has rows of 4386 bytes: several row tiles per thread chunk.
constexpr Shape kShapes[] = {{DType::kQ4_K, 67, 768},  {DType::kQ6_K, 130, 256},
                             {DType::kQ5_K, 9, 512},   {DType::kQ8_0, 67, 4128},
                             {DType::kQ4_0, 130, 96},  {DType::kQ4_1, 5, 64},
                             {DType::kF16, 67, 100}};

TEST(Matmul, MatchesReferenceOnEveryIsa) {
  for (int threads : {1, 2}) {
    const cpu::ThreadArena arena(threads);
    for (cpu::Isa isa : cpu::supported_isas()) {
      const cpu::CpuLane lane{isa, &arena};
      for (const Shape& s : kShapes) {
        const testing::GemvCase c = testing::gaussian_case(s.type, s.rows, s.cols, 11);
        for (int64_t n_tokens = 1; n_tokens <= 8; ++n_tokens) {
          SCOPED_TRACE(testing::type_name(s.type) + " on " + std::string(cpu::isa_name(isa)) +
                       ": rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                       " tokens=" + std::to_string(n_tokens) + " threads=" + std::to_string(threads));
          std::vector<float> x;  // [n_tokens, cols]
          for (int64_t t = 0; t < n_tokens; ++t) {
            const std::vector<float> row = testing::gaussian_row(s.cols, static_cast<uint32_t>(100 + t));
            x.insert(x.end(), row.begin(), row.end());
          }
          std::vector<float> y(static_cast<size_t>(n_tokens * s.rows), NAN);
          cpu::matmul(lane, {s.type, c.w.data(), s.rows, s.cols, x.data(), n_tokens, y.data()});
          int failures = 0;
          for (int64_t t = 0; t < n_tokens && failures < 5; ++t) {
            std::vector<float> want(static_cast<size_t>(s.rows));
            cpu::gemv_ref(s.type, c.w.data(), s.rows, s.cols, x.data() + t * s.cols, want.data());
            // The float bound needs this token's activations in the case.
            testing::GemvCase ct = testing::gaussian_case(s.type, 1, s.cols, 1);
            cpu::quantize_activation_ref(s.type, x.data() + t * s.cols, ct.x.data(), s.cols);
            for (int64_t r = 0; r < s.rows && failures < 5; ++r) {
              const float got = y[static_cast<size_t>(t * s.rows + r)];
              double allowed = 0;
              if (testing::is_float_type(s.type)) {
                std::memcpy(ct.w.data(), c.row(r), c.w_row);
                allowed = testing::allowed_difference(ct, 0);
              }
              if (!(std::fabs(static_cast<double>(got) - want[static_cast<size_t>(r)]) <= allowed)) {
                ++failures;
                ADD_FAILURE() << "token " << t << " row " << r << ": matmul " << got
                              << ", reference " << want[static_cast<size_t>(r)] << ", allowed " << allowed;
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace tandem
