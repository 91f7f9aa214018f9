#include "gpu/allocator.h"

#include "core/check.h"
#include "gpu/byte_size.h"

namespace tandem::gpu {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    charged_ = std::exchange(o.charged_, 0);
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (owner_ != nullptr) owner_->release(ptr_, charged_);
  owner_ = nullptr;
  ptr_ = nullptr;
  bytes_ = charged_ = 0;
}

Allocator::~Allocator() {
  TANDEM_CHECK(live_ == 0) << name_ << ": allocator destroyed with " << live_ << " live buffers ("
                           << used_ << " bytes)";
}

Result<DeviceBuffer> Allocator::allocate(uint64_t bytes, std::string_view what) {
  if (bytes == 0) return Error(Code::kInvalidArgument) << name_ << ": zero-byte allocation for " << what;
  if (bytes > UINT64_MAX - kAllocAlignment)
    return Error(Code::kOutOfMemory) << name_ << ": " << what << " asks for " << bytes << " bytes";
  const uint64_t charged = align_up(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (charged > budget_ - used_)
    return Error(Code::kOutOfMemory) << name_ << ": over the GPU memory budget: " << what << " needs "
                                     << format_bytes(charged) << " (" << charged << " bytes), "
                                     << format_bytes(budget_ - used_) << " (" << (budget_ - used_)
                                     << " bytes) of the " << format_bytes(budget_) << " budget left ("
                                     << live_ << " buffers, " << format_bytes(used_) << " in use)";
  TANDEM_ASSIGN_OR_RETURN(void* p, device_alloc(charged, what));
  TANDEM_CHECK(p != nullptr) << name_ << ": device_alloc returned null for " << what;
  used_ += charged;
  ++live_;
  if (used_ > high_water_) high_water_ = used_;
  return DeviceBuffer(this, p, bytes, charged);
}

bool Allocator::can_fit(uint64_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes <= UINT64_MAX - kAllocAlignment && align_up(bytes) <= budget_ - used_;
}

uint64_t Allocator::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

uint64_t Allocator::high_water() const {
  std::lock_guard<std::mutex> lock(mu_);
  return high_water_;
}

uint64_t Allocator::remaining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return budget_ - used_;
}

int64_t Allocator::live_buffers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

void Allocator::release(void* p, uint64_t charged) {
  std::lock_guard<std::mutex> lock(mu_);
  TANDEM_CHECK(live_ > 0 && used_ >= charged) << name_ << ": release of " << charged << " bytes with "
                                              << used_ << " in use";
  device_free(p, charged);
  used_ -= charged;
  --live_;
}

}  // namespace tandem::gpu
