#include "gpu/cuda/cuda_error.h"

#include <string>

namespace tandem::gpu {
namespace {

// The path from "src/" on, so messages do not carry the build machine's directories.
std::string_view short_path(const char* file) {
  const std::string_view f(file);
  const size_t at = f.rfind("/src/");
  return at == std::string_view::npos ? f : f.substr(at + 1);
}

Error located(Code code, std::string_view call, std::string_view detail, const std::source_location& where) {
  Error e(code);
  e << call << "(" << detail << ") failed at " << short_path(where.file_name()) << ":" << where.line() << ": ";
  return e;
}

}  // namespace

Error cuda_error(cudaError_t e, std::string_view call, std::string_view detail, std::source_location where) {
  Code code = Code::kInternal;
  if (e == cudaErrorMemoryAllocation) code = Code::kOutOfMemory;
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorNoKernelImageForDevice)
    code = Code::kUnsupported;
  return std::move(located(code, call, detail, where)
                   << cudaGetErrorString(e) << " (" << cudaGetErrorName(e) << " = " << static_cast<int>(e) << ")");
}

Error cublas_error(cublasStatus_t s, std::string_view call, std::string_view detail, std::source_location where) {
  const Code code = s == CUBLAS_STATUS_ALLOC_FAILED ? Code::kOutOfMemory : Code::kInternal;
  return std::move(located(code, call, detail, where)
                   << cublasGetStatusString(s) << " (" << cublasGetStatusName(s) << " = " << static_cast<int>(s) << ")");
}

Status cuda_status(cudaError_t e, std::string_view call, std::string_view detail, std::source_location where) {
  if (e == cudaSuccess) return Status::ok();
  return cuda_error(e, call, detail, where);
}

}  // namespace tandem::gpu
