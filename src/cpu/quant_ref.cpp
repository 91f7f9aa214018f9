// Dispatch of the reference kernels by tensor type: one plain switch per operation.
#include "cpu/quant_ref.h"

#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/quant_blocks.h"
#include "cpu/quant_ref_kernels.h"

namespace tandem::cpu {
namespace {

void check_row(DType t, int64_t n) {
  const int64_t be = traits(t).block_elems;
  TANDEM_CHECK(n >= 0 && n % be == 0)
      << dtype_name(t) << ": row of " << n << " elements is not a multiple of the block size " << be;
}

template <typename B>
const B* as(const void* p) {
  return static_cast<const B*>(p);
}
template <typename B>
B* as(void* p) {
  return static_cast<B*>(p);
}

}  // namespace

size_t quantized_row_bytes(DType t, int64_t n) {
  check_row(t, n);
  const std::optional<uint64_t> bytes = row_bytes(t, static_cast<uint64_t>(n));
  TANDEM_CHECK(bytes.has_value()) << dtype_name(t) << ": row of " << n << " elements overflows";
  return static_cast<size_t>(*bytes);
}

void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n) {
  check_row(t, n);
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kF16: dequantize_f16_ref(as<uint16_t>(src), dst, n); return;
    case DType::kBF16: dequantize_bf16_ref(as<uint16_t>(src), dst, n); return;
    case DType::kQ4_0: dequantize_q4_0_ref(as<BlockQ4_0>(src), dst, n); return;
    case DType::kQ4_1: dequantize_q4_1_ref(as<BlockQ4_1>(src), dst, n); return;
    case DType::kQ5_0: dequantize_q5_0_ref(as<BlockQ5_0>(src), dst, n); return;
    case DType::kQ5_1: dequantize_q5_1_ref(as<BlockQ5_1>(src), dst, n); return;
    case DType::kQ8_0: dequantize_q8_0_ref(as<BlockQ8_0>(src), dst, n); return;
    case DType::kQ8_1: dequantize_q8_1_ref(as<BlockQ8_1>(src), dst, n); return;
    case DType::kQ2_K: dequantize_q2_k_ref(as<BlockQ2_K>(src), dst, n); return;
    case DType::kQ3_K: dequantize_q3_k_ref(as<BlockQ3_K>(src), dst, n); return;
    case DType::kQ4_K: dequantize_q4_k_ref(as<BlockQ4_K>(src), dst, n); return;
    case DType::kQ5_K: dequantize_q5_k_ref(as<BlockQ5_K>(src), dst, n); return;
    case DType::kQ6_K: dequantize_q6_k_ref(as<BlockQ6_K>(src), dst, n); return;
    case DType::kQ8_K: dequantize_q8_k_ref(as<BlockQ8_K>(src), dst, n); return;
    default: break;
  }
  TANDEM_CHECK(false) << "dequantize_row_ref: no reference kernel for " << dtype_name(t);
}

void quantize_row_ref(DType t, const float* src, void* dst, int64_t n) {
  check_row(t, n);
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kF16: quantize_f16_ref(src, as<uint16_t>(dst), n); return;
    case DType::kBF16: quantize_bf16_ref(src, as<uint16_t>(dst), n); return;
    case DType::kQ4_0: quantize_q4_0_ref(src, as<BlockQ4_0>(dst), n); return;
    case DType::kQ4_1: quantize_q4_1_ref(src, as<BlockQ4_1>(dst), n); return;
    case DType::kQ5_0: quantize_q5_0_ref(src, as<BlockQ5_0>(dst), n); return;
    case DType::kQ5_1: quantize_q5_1_ref(src, as<BlockQ5_1>(dst), n); return;
    case DType::kQ8_0: quantize_q8_0_ref(src, as<BlockQ8_0>(dst), n); return;
    case DType::kQ8_1: quantize_q8_1_ref(src, as<BlockQ8_1>(dst), n); return;
    case DType::kQ2_K: quantize_q2_k_ref(src, as<BlockQ2_K>(dst), n); return;
    case DType::kQ3_K: quantize_q3_k_ref(src, as<BlockQ3_K>(dst), n); return;
    case DType::kQ4_K: quantize_q4_k_ref(src, as<BlockQ4_K>(dst), n); return;
    case DType::kQ5_K: quantize_q5_k_ref(src, as<BlockQ5_K>(dst), n); return;
    case DType::kQ6_K: quantize_q6_k_ref(src, as<BlockQ6_K>(dst), n); return;
    case DType::kQ8_K: quantize_q8_k_ref(src, as<BlockQ8_K>(dst), n); return;
    default: break;
  }
  TANDEM_CHECK(false) << "quantize_row_ref: no reference kernel for " << dtype_name(t);
}

DType vec_dot_type(DType t) {
  switch (t) {
    case DType::kF32: return DType::kF32;
    case DType::kF16: return DType::kF16;
    case DType::kBF16: return DType::kBF16;
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0: return DType::kQ8_0;
    case DType::kQ4_1:
    case DType::kQ5_1: return DType::kQ8_1;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ8_K: return DType::kQ8_K;
    default: break;
  }
  TANDEM_CHECK(false) << "vec_dot_type: " << dtype_name(t) << " has no dot product";
  __builtin_unreachable();
}

void quantize_activation_ref(DType t, const float* x, void* dst, int64_t n) {
  quantize_row_ref(vec_dot_type(t), x, dst, n);
}

float vec_dot_ref(DType t, int64_t n, const void* w, const void* x) {
  check_row(t, n);
  switch (t) {
    case DType::kF32: return vec_dot_f32_ref(n, as<float>(w), as<float>(x));
    case DType::kF16: return vec_dot_f16_ref(n, as<uint16_t>(w), as<uint16_t>(x));
    case DType::kBF16: return vec_dot_bf16_ref(n, as<uint16_t>(w), as<uint16_t>(x));
    case DType::kQ4_0: return vec_dot_q4_0_q8_0_ref(n, as<BlockQ4_0>(w), as<BlockQ8_0>(x));
    case DType::kQ4_1: return vec_dot_q4_1_q8_1_ref(n, as<BlockQ4_1>(w), as<BlockQ8_1>(x));
    case DType::kQ5_0: return vec_dot_q5_0_q8_0_ref(n, as<BlockQ5_0>(w), as<BlockQ8_0>(x));
    case DType::kQ5_1: return vec_dot_q5_1_q8_1_ref(n, as<BlockQ5_1>(w), as<BlockQ8_1>(x));
    case DType::kQ8_0: return vec_dot_q8_0_q8_0_ref(n, as<BlockQ8_0>(w), as<BlockQ8_0>(x));
    case DType::kQ2_K: return vec_dot_q2_k_q8_k_ref(n, as<BlockQ2_K>(w), as<BlockQ8_K>(x));
    case DType::kQ3_K: return vec_dot_q3_k_q8_k_ref(n, as<BlockQ3_K>(w), as<BlockQ8_K>(x));
    case DType::kQ4_K: return vec_dot_q4_k_q8_k_ref(n, as<BlockQ4_K>(w), as<BlockQ8_K>(x));
    case DType::kQ5_K: return vec_dot_q5_k_q8_k_ref(n, as<BlockQ5_K>(w), as<BlockQ8_K>(x));
    case DType::kQ6_K: return vec_dot_q6_k_q8_k_ref(n, as<BlockQ6_K>(w), as<BlockQ8_K>(x));
    case DType::kQ8_K: return vec_dot_q8_k_q8_k_ref(n, as<BlockQ8_K>(w), as<BlockQ8_K>(x));
    default: break;
  }
  TANDEM_CHECK(false) << "vec_dot_ref: " << dtype_name(t) << " has no dot product";
  __builtin_unreachable();
}

void gemv_rows_ref(DType t, const void* w, int64_t row_begin, int64_t row_end, int64_t cols,
                   const void* x_q, float* y) {
  const size_t row_stride = quantized_row_bytes(t, cols);
  const auto* base = static_cast<const std::byte*>(w);
  for (int64_t r = row_begin; r < row_end; ++r)
    y[r] = vec_dot_ref(t, cols, base + static_cast<size_t>(r) * row_stride, x_q);
}

void gemv_ref(DType t, const void* w, int64_t rows, int64_t cols, const float* x, float* y) {
  std::vector<std::byte> x_q(quantized_row_bytes(vec_dot_type(t), cols));
  quantize_activation_ref(t, x, x_q.data(), cols);
  gemv_rows_ref(t, w, 0, rows, cols, x_q.data(), y);
}

}  // namespace tandem::cpu
