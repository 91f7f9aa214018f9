#include "gpu/cuda/pinned_buffer.h"

#include <cuda_runtime.h>

#include <string>

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<PinnedBuffer> PinnedBuffer::create(uint64_t bytes, const char* what) {
  if (bytes == 0) return Error(Code::kInvalidArgument) << "pinned buffer '" << what << "' of 0 bytes";
  void* p = nullptr;
  TANDEM_TRY(cuda_status(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "cudaHostAlloc",
                         std::to_string(bytes) + " bytes for " + what));
  return PinnedBuffer(p, bytes);
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFreeHost(p_);
    p_ = std::exchange(o.p_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (p_) cudaFreeHost(p_);
}

}  // namespace tandem::gpu
