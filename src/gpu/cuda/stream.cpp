#include "gpu/cuda/stream.h"

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<CudaStream> CudaStream::create() {
  cudaStream_t s = nullptr;
  TANDEM_TRY(cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags",
                         "cudaStreamNonBlocking"));
  return CudaStream(s);
}

CudaStream& CudaStream::operator=(CudaStream&& o) noexcept {
  if (this != &o) {
    if (s_) cudaStreamDestroy(s_);
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

CudaStream::~CudaStream() {
  if (s_) cudaStreamDestroy(s_);  // returns at once; the stream is freed when its work ends
}

Status CudaStream::synchronize() const { return cuda_status(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

}  // namespace tandem::gpu
