// The budgeted device allocator. Every byte Tandem puts on a GPU goes through an
// Allocator, which charges it against a budget (`--gpu-mem`) and refuses a request
// that would pass the budget with an error naming the request and what is left.
// Implementations supply the raw device calls: FakeDeviceAllocator (tests, planning,
// no GPU) and the CUDA allocator in libtandem_cuda.so (cudaMalloc).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace tandem::gpu {

// cudaMalloc returns 256-byte aligned memory; every request is charged rounded up to
// it, so a plan that rounds the same way predicts the allocator's high-water mark.
inline constexpr uint64_t kAllocAlignment = 256;
constexpr uint64_t align_up(uint64_t n, uint64_t a = kAllocAlignment) { return (n + a - 1) / a * a; }

class Allocator;

// One device allocation, owned: returned to its allocator when destroyed. Move-only.
// The pointer is a device address (never dereference it on the host).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  void* data() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  uint64_t bytes() const { return bytes_; }      // as requested
  uint64_t charged() const { return charged_; }  // against the budget: align_up(bytes)
  bool empty() const { return ptr_ == nullptr; }
  void reset();  // frees now

 private:
  friend class Allocator;
  DeviceBuffer(Allocator* owner, void* p, uint64_t bytes, uint64_t charged)
      : owner_(owner), ptr_(p), bytes_(bytes), charged_(charged) {}
  Allocator* owner_ = nullptr;
  void* ptr_ = nullptr;
  uint64_t bytes_ = 0;
  uint64_t charged_ = 0;
};

class Allocator {
 public:
  // `budget`: the most bytes live at once; `name` says which device in errors ("GPU 0").
  Allocator(uint64_t budget, std::string name) : budget_(budget), name_(std::move(name)) {}
  virtual ~Allocator();  // every DeviceBuffer must be gone (a live one is our bug)
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // A buffer of `bytes` (> 0), charged align_up(bytes). `what` names it in errors
  // ("blk.3 weights"). kOutOfMemory when the budget or the device cannot hold it;
  // nothing changes then.
  Result<DeviceBuffer> allocate(uint64_t bytes, std::string_view what);
  bool can_fit(uint64_t bytes) const;  // within the budget now (the device may still refuse)

  uint64_t budget() const { return budget_; }
  uint64_t used() const;
  uint64_t high_water() const;
  uint64_t remaining() const;  // budget - used
  int64_t live_buffers() const;
  const std::string& name() const { return name_; }

 protected:
  // The device's own allocation of `bytes` (already aligned); kOutOfMemory naming the
  // request when the device has no room.
  virtual Result<void*> device_alloc(uint64_t bytes, std::string_view what) = 0;
  virtual void device_free(void* p, uint64_t bytes) = 0;

 private:
  friend class DeviceBuffer;
  void release(void* p, uint64_t charged);

  const uint64_t budget_;
  const std::string name_;
  mutable std::mutex mu_;  // guards the counters and the device calls
  uint64_t used_ = 0;
  uint64_t high_water_ = 0;
  int64_t live_ = 0;
};

}  // namespace tandem::gpu
