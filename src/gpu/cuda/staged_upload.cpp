#include "gpu/cuda/staged_upload.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

Result<StagedUpload> StagedUpload::create(uint64_t chunk_bytes, cudaStream_t stream) {
  if (chunk_bytes == 0) return Error(Code::kInvalidArgument) << "staged upload: chunks of 0 bytes";
  TANDEM_ASSIGN_OR_RETURN(PinnedBuffer b, PinnedBuffer::create(2 * chunk_bytes, "weight upload staging"));
  TANDEM_ASSIGN_OR_RETURN(CudaEvent e0, CudaEvent::create());
  TANDEM_ASSIGN_OR_RETURN(CudaEvent e1, CudaEvent::create());
  return StagedUpload(std::move(b), std::move(e0), std::move(e1), chunk_bytes, stream);
}

Status StagedUpload::upload(void* dst, const void* src, uint64_t bytes, const char* what) {
  for (uint64_t off = 0; off < bytes; off += chunk_) {
    const uint64_t n = std::min(chunk_, bytes - off);
    CudaEvent& done = done_[next_];
    TANDEM_TRY(done.synchronize());  // the half's previous copy has left it (no-op before its first use)
    std::byte* half = buf_.as<std::byte>() + static_cast<uint64_t>(next_) * chunk_;
    std::memcpy(half, static_cast<const std::byte*>(src) + off, n);
    TANDEM_TRY(cuda_status(
        cudaMemcpyAsync(static_cast<std::byte*>(dst) + off, half, n, cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync", std::to_string(n) + " bytes of " + what + " at +" + std::to_string(off) + " of " +
                               std::to_string(bytes) + ", host to device"));
    TANDEM_TRY(done.record(stream_));
    next_ = 1 - next_;
  }
  return Status::ok();
}

Status StagedUpload::finish() {
  TANDEM_TRY(done_[0].synchronize());
  return done_[1].synchronize();
}

}  // namespace tandem::gpu
