// Host-to-device upload of weights through page-locked memory: the host bytes (mmap'd
// GGUF data, pageable) are copied into one of two pinned halves while the copy engine
// moves the other half to the device, all on one stream. Pageable cudaMemcpy would
// stage through the driver's own buffer one copy at a time; here the CPU's memcpy of
// chunk i+1 overlaps the DMA of chunk i.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/status.h"
#include "gpu/cuda/event.h"
#include "gpu/cuda/pinned_buffer.h"

namespace tandem::gpu {

class StagedUpload {
 public:
  // Two halves of chunk_bytes each (> 0) for copies on `stream`.
  static Result<StagedUpload> create(uint64_t chunk_bytes, cudaStream_t stream);

  StagedUpload(StagedUpload&&) noexcept = default;
  StagedUpload& operator=(StagedUpload&&) = delete;
  // Waits for copies still reading the pinned halves (an upload abandoned on an error).
  ~StagedUpload() {
    for (const CudaEvent& e : done_)
      if (e.get() != nullptr) cudaEventSynchronize(e.get());
  }

  // Copies `bytes` from host `src` to device `dst`; returns once the last chunk is
  // queued (src may be released after finish()). `what` names the tensor in errors.
  Status upload(void* dst, const void* src, uint64_t bytes, const char* what);
  // Waits for every queued copy.
  Status finish();

 private:
  StagedUpload(PinnedBuffer b, CudaEvent e0, CudaEvent e1, uint64_t chunk, cudaStream_t s)
      : buf_(std::move(b)), done_{std::move(e0), std::move(e1)}, chunk_(chunk), stream_(s) {}

  PinnedBuffer buf_;    // [2, chunk_] bytes
  CudaEvent done_[2];   // half i is free again once done_[i] has passed
  uint64_t chunk_ = 0;
  cudaStream_t stream_ = nullptr;
  int next_ = 0;        // the half to fill next
};

}  // namespace tandem::gpu
