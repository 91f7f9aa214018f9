#include "gpu/cuda/event.h"

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<CudaEvent> CudaEvent::create(bool timing) {
  cudaEvent_t e = nullptr;
  const unsigned flags = timing ? cudaEventDefault : cudaEventDisableTiming;
  TANDEM_TRY(cuda_status(cudaEventCreateWithFlags(&e, flags), "cudaEventCreateWithFlags",
                         timing ? "timing" : "cudaEventDisableTiming"));
  return CudaEvent(e);
}

CudaEvent& CudaEvent::operator=(CudaEvent&& o) noexcept {
  if (this != &o) {
    if (e_) cudaEventDestroy(e_);
    e_ = std::exchange(o.e_, nullptr);
  }
  return *this;
}

CudaEvent::~CudaEvent() {
  if (e_) cudaEventDestroy(e_);
}

Status CudaEvent::record(cudaStream_t stream) { return cuda_status(cudaEventRecord(e_, stream), "cudaEventRecord"); }

Status CudaEvent::wait_on(cudaStream_t stream) const {
  return cuda_status(cudaStreamWaitEvent(stream, e_, 0), "cudaStreamWaitEvent");
}

Status CudaEvent::synchronize() const { return cuda_status(cudaEventSynchronize(e_), "cudaEventSynchronize"); }

Result<float> CudaEvent::elapsed_ms(const CudaEvent& start, const CudaEvent& end) {
  float ms = 0;
  TANDEM_TRY(cuda_status(cudaEventElapsedTime(&ms, start.e_, end.e_), "cudaEventElapsedTime"));
  return ms;
}

}  // namespace tandem::gpu
