// An owned CUDA stream. Move-only; destroyed (after its work finishes) with the object.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "core/status.h"

namespace tandem::gpu {

class CudaStream {
 public:
  // A non-blocking stream (no implicit sync with the legacy default stream).
  static Result<CudaStream> create();

  CudaStream() = default;
  CudaStream(CudaStream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  CudaStream& operator=(CudaStream&& o) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream();

  cudaStream_t get() const { return s_; }  // borrowed; never destroy it
  Status synchronize() const;             // waits for the work queued so far

 private:
  explicit CudaStream(cudaStream_t s) : s_(s) {}
  cudaStream_t s_ = nullptr;
};

}  // namespace tandem::gpu
