#include "gpu/cuda/linear.h"

#include <algorithm>
#include <string>

#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/launch_status.h"
#include "gpu/cuda/gemm_plan.h"
#include "gpu/cuda/gemv_quant.cuh"

namespace tandem::gpu {
namespace {

GemvFn gemv_for(DType t) {
  switch (t) {
    case DType::kQ8_0: return gemv_q8_0;
    case DType::kQ4_0: return gemv_q4_0;
    case DType::kQ4_1: return gemv_q4_1;
    case DType::kQ5_0: return gemv_q5_0;
    case DType::kQ5_1: return gemv_q5_1;
    case DType::kF16: return gemv_f16;
    case DType::kBF16: return gemv_bf16;
    case DType::kQ2_K: return gemv_q2_k;
    case DType::kQ3_K: return gemv_q3_k;
    case DType::kQ4_K: return gemv_q4_k;
    case DType::kQ5_K: return gemv_q5_k;
    case DType::kQ6_K: return gemv_q6_k;
    default: return nullptr;
  }
}

std::string shape(const DeviceMatrix& w, int64_t n) {
  return std::string(dtype_name(w.type)) + " W [" + std::to_string(w.rows) + ", " + std::to_string(w.cols) + "] x " +
         std::to_string(n) + " tokens";
}

// Row-major y [n, rows] is column-major rows x n; row-major W [rows, cols] is
// column-major cols x rows: y = W^T(cm) . x(cm).
Status sgemm(const LinearLane& lane, const DeviceMatrix& w, const float* x, int64_t n, float* y) {
  const float alpha = 1.f, beta = 0.f;
  const auto m = static_cast<int>(w.rows), k = static_cast<int>(w.cols), nn = static_cast<int>(n);
  const cublasStatus_t st = cublasSgemm(lane.blas, CUBLAS_OP_T, CUBLAS_OP_N, m, nn, k, &alpha,
                                        static_cast<const float*>(w.w), k, x, k, &beta, y, m);
  if (st != CUBLAS_STATUS_SUCCESS) return cublas_error(st, "cublasSgemm", shape(w, n));
  return Status::ok();
}

Status gemv_slices(GemvFn fn, const LinearLane& lane, const DeviceMatrix& w, const float* x, int64_t n, float* y) {
  for (int64_t t0 = 0; t0 < n; t0 += kGemvMaxTokens) {
    const auto nt = static_cast<int32_t>(std::min<int64_t>(kGemvMaxTokens, n - t0));
    const GemvShape s{w.rows, w.cols, nt};
    TANDEM_TRY(launch_status(fn(w.w, x + t0 * w.cols, y + t0 * w.rows, s, lane.stream), "gemv", [&] {
      return shape(w, nt) + " (rows " + std::to_string(t0) + ".. of " + std::to_string(n) + ")";
    }));
  }
  return Status::ok();
}

}  // namespace

const char* linear_problem(DType type, int64_t cols) {
  if (type == DType::kF32) return nullptr;
  if (gemv_for(type) == nullptr)
    return "no GPU matrix kernel for this weight type (f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k..q6_k)";
  if ((type == DType::kF16 || type == DType::kBF16) && cols % 32 != 0)
    return "the GPU's f16/bf16 GEMV needs rows of a multiple of 32 weights";
  return nullptr;
}

Status linear(const LinearLane& lane, const DeviceMatrix& w, const float* x, int64_t n, float* y) {
  if (n <= 0 || w.rows == 0) return Status::ok();
  if (n > INT32_MAX || w.rows > INT32_MAX || w.cols > INT32_MAX)
    return Error(Code::kInvalidArgument) << "linear: " << shape(w, n) << " is past cuBLAS' int sizes";
  if (w.type == DType::kF32) return sgemm(lane, w, x, n, y);
  const GemvFn fn = gemv_for(w.type);
  if (fn == nullptr)
    return Error(Code::kUnsupported) << "linear: " << shape(w, n) << ": " << linear_problem(w.type, w.cols);
  if (n <= kGemvMaxTokens || lane.ws.weights == nullptr || lane.ws.input == nullptr ||
      !dequant_f16_supported(w.type))
    return gemv_slices(fn, lane, w, x, n, y);
  return gemm_quant(lane.blas, w.type, w.w, x, y, GemmShape{w.rows, w.cols, static_cast<int32_t>(n)}, lane.ws,
                    lane.stream);
}

}  // namespace tandem::gpu
