#include "gpu/device_info.h"

#include "gpu/byte_size.h"

namespace tandem::gpu {

std::string describe(const DeviceInfo& d) {
  return d.name + " (sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor) + ", " +
         std::to_string(d.sm_count) + " SMs, " + format_bytes(d.total_bytes) + ", " +
         format_bytes(d.free_bytes) + " free)";
}

}  // namespace tandem::gpu
