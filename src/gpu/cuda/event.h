// An owned CUDA event: ordering between streams (and the CPU lane), and GPU timing.
// Move-only.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "core/status.h"

namespace tandem::gpu {

class CudaEvent {
 public:
  // `timing` false makes a cheaper event that only orders work (cudaEventDisableTiming).
  static Result<CudaEvent> create(bool timing = false);

  CudaEvent() = default;
  CudaEvent(CudaEvent&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  CudaEvent& operator=(CudaEvent&& o) noexcept;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent();

  cudaEvent_t get() const { return e_; }  // borrowed
  Status record(cudaStream_t stream);       // marks the point `stream` has reached
  Status wait_on(cudaStream_t stream) const;  // `stream` waits for this event (no CPU wait)
  Status synchronize() const;                 // the CPU waits for it
  // Milliseconds between two recorded timing events (`start` first).
  static Result<float> elapsed_ms(const CudaEvent& start, const CudaEvent& end);

 private:
  explicit CudaEvent(cudaEvent_t e) : e_(e) {}
  cudaEvent_t e_ = nullptr;
};

}  // namespace tandem::gpu
