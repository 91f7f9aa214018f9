#include "gpu/cuda/copy.h"

#include <string>

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {
namespace {

Status copy(void* dst, const void* src, uint64_t bytes, cudaMemcpyKind kind, const char* what,
            cudaStream_t stream, std::source_location where) {
  if (bytes == 0) return Status::ok();
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, kind, stream), "cudaMemcpyAsync",
                     std::to_string(bytes) + " bytes " + what, where);
}

}  // namespace

Status copy_to_device(void* dst, const void* src, uint64_t bytes, cudaStream_t stream) {
  return copy(dst, src, bytes, cudaMemcpyHostToDevice, "host to device", stream, std::source_location::current());
}

Status copy_to_host(void* dst, const void* src, uint64_t bytes, cudaStream_t stream) {
  return copy(dst, src, bytes, cudaMemcpyDeviceToHost, "device to host", stream, std::source_location::current());
}

Status copy_on_device(void* dst, const void* src, uint64_t bytes, cudaStream_t stream) {
  return copy(dst, src, bytes, cudaMemcpyDeviceToDevice, "device to device", stream,
              std::source_location::current());
}

}  // namespace tandem::gpu
