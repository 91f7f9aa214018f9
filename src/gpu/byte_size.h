// Byte counts as people write them on a command line ("16G", "512M", "1.5GiB") and as
// the GPU plan prints them. Suffixes are powers of 1024 (K, M, G, T; "B", "iB" and
// lower case accepted): GPU memory is counted in GiB, and `--gpu-mem 16G` means 16 GiB.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem::gpu {

// "123", "16G", "16GiB", "16gb", "1.5G", "512M", "64K" -> bytes (a fraction is rounded
// down to whole bytes). kInvalidArgument naming the text for anything else: empty,
// negative, an unknown suffix, or more than 2^64 - 1 bytes.
Result<uint64_t> parse_byte_size(std::string_view text);

// "300 B", "1.50 KiB", "512.00 MiB", "15.88 GiB": two decimals in the largest unit
// that keeps the number at or above 1.
std::string format_bytes(uint64_t n);

}  // namespace tandem::gpu
