// Page-locked host memory (cudaHostAlloc): the staging area the copy engine moves
// Q/K/V and attention outputs through while both lanes compute. Move-only.
#pragma once

#include <cstdint>
#include <utility>

#include "core/status.h"

namespace tandem::gpu {

class PinnedBuffer {
 public:
  // `bytes` > 0; `what` names the buffer in errors.
  static Result<PinnedBuffer> create(uint64_t bytes, const char* what);

  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  void* data() const { return p_; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  uint64_t bytes() const { return bytes_; }

 private:
  PinnedBuffer(void* p, uint64_t bytes) : p_(p), bytes_(bytes) {}
  void* p_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace tandem::gpu
