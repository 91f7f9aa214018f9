#include "gpu/cuda/gemm_quant.h"

#include <cstdint>
#include <string>

#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/dequantize_f16.cuh"

namespace tandem::gpu {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

std::string sizes(DType type, const GemmShape& s) {
  return std::string(dtype_name(type)) + " W [" + std::to_string(s.rows) + ", " + std::to_string(s.cols) + "], " +
         std::to_string(s.n_tokens) + " tokens";
}

// The handle must run on `stream` with host scalars (alpha, beta live on this stack).
Status check_handle(cublasHandle_t blas, cudaStream_t stream) {
  if (blas == nullptr) return Error(Code::kInvalidArgument) << "gemm: no cuBLAS handle";
  cudaStream_t bound = nullptr;
  if (cublasStatus_t st = cublasGetStream(blas, &bound); st != CUBLAS_STATUS_SUCCESS)
    return cublas_error(st, "cublasGetStream");
  if (bound != stream)
    return Error(Code::kInvalidArgument) << "gemm: the cuBLAS handle runs on stream " << static_cast<void*>(bound)
                                         << ", the call on stream " << static_cast<void*>(stream)
                                         << " (bind it with set_stream, then set_workspace)";
  cublasPointerMode_t mode = CUBLAS_POINTER_MODE_HOST;
  if (cublasStatus_t st = cublasGetPointerMode(blas, &mode); st != CUBLAS_STATUS_SUCCESS)
    return cublas_error(st, "cublasGetPointerMode");
  if (mode != CUBLAS_POINTER_MODE_HOST)
    return Error(Code::kInvalidArgument) << "gemm: the cuBLAS handle is in device pointer mode; alpha and beta are host values";
  return Status::ok();
}

}  // namespace

Status gemm_quant(cublasHandle_t blas, DType type, const void* w, const float* x, float* y, const GemmShape& s,
                  const GemmWorkspace& ws, cudaStream_t stream) {
  TANDEM_ASSIGN_OR_RETURN(const GemmPanels panels, plan_gemm_panels(type, s, ws.weight_bytes, ws.input_bytes));
  if (!aligned16(w) || !aligned16(ws.weights) || !aligned16(ws.input))
    return Error(Code::kInvalidArgument) << "gemm: W " << w << ", weight workspace " << ws.weights
                                         << " and input workspace " << ws.input << " must be 16-byte aligned";
  TANDEM_TRY(check_handle(blas, stream));
  if (panels.n_panels == 0) return Status::ok();

  auto* x16 = static_cast<uint16_t*>(ws.input);    // [n_tokens, cols] f16
  auto* w16 = static_cast<uint16_t*>(ws.weights);  // [panel_rows, cols] f16
  const int64_t n_x = static_cast<int64_t>(s.n_tokens) * s.cols;
  TANDEM_TRY(cuda_status(convert_f32_to_f16(x, n_x, x16, stream), "convert_f32_to_f16",
                         std::to_string(n_x) + " activations, " + sizes(type, s)));

  // Row-major y [n_tokens, rows] is column-major rows x n_tokens (ld rows); row-major W
  // and x are column-major cols x rows and cols x n_tokens (ld cols). So per panel of
  // rows [r0, r0 + m): Y[r0 : r0 + m, :] = Wpanel^T (m x cols) * X (cols x n_tokens).
  const float alpha = 1.f, beta = 0.f;
  const int n = s.n_tokens, k = static_cast<int>(s.cols), ldc = static_cast<int>(s.rows);
  for (int64_t i = 0; i < panels.n_panels; ++i) {
    const int64_t r0 = panels.first_row(i);
    const int m = static_cast<int>(panels.rows_in(i, s.rows));
    const auto panel = [&] {
      return "panel " + std::to_string(i + 1) + " of " + std::to_string(panels.n_panels) + ": rows " +
             std::to_string(r0) + ".." + std::to_string(r0 + m) + " of " + sizes(type, s);
    };
    TANDEM_TRY(cuda_status(dequantize_rows_to_f16(type, w, r0, m, s.cols, w16, stream), "dequantize_rows_to_f16",
                           panel()));
    const cublasStatus_t st =
        cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, w16, CUDA_R_16F, k, x16, CUDA_R_16F, k, &beta,
                     y + r0, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
      return cublas_error(st, "cublasGemmEx",
                          "f16 x f16 -> f32, T N, m " + std::to_string(m) + " n " + std::to_string(n) + " k " +
                              std::to_string(k) + " lda " + std::to_string(k) + " ldb " + std::to_string(k) +
                              " ldc " + std::to_string(ldc) + ", " + panel());
  }
  return Status::ok();
}

}  // namespace tandem::gpu
