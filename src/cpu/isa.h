// Which x86 instruction sets the CPU kernels may use: probed once with cpuid/xgetbv,
// optionally forced with TANDEM_ISA=scalar|avx2|avx512 (read once, in runtime_isa()).
// Kernels for a level live in files built with that level's flags only (see
// src/cpu/CMakeLists.txt); everything else in the binary runs on any x86-64.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem::cpu {

// Levels in increasing order; each needs everything the previous one needs.
//   kAvx2:   AVX2 + FMA + F16C, and the OS saves YMM state (XCR0 bits 1-2).
//   kAvx512: kAvx2's, plus AVX-512 F + BW + VL + DQ, and the OS saves opmask/ZMM
//            state (XCR0 bits 5-7). VNNI, BF16 and VBMI are extras (CpuFeatures).
enum class Isa { kScalar, kAvx2, kAvx512 };

struct CpuFeatures {
  bool os_ymm = false;  // XCR0: XMM and YMM state enabled
  bool os_zmm = false;  // XCR0: opmask, ZMM_Hi256 and Hi16_ZMM state enabled
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_vnni = false;  // vpdpbusd / vpdpwssd on zmm
  bool avx512_bf16 = false;
  bool avx512_vbmi = false;
  bool avx_vnni = false;     // vpdpbusd / vpdpwssd on ymm, VEX-encoded (cpuid.(7,1):EAX[4])
};

// Runs cpuid/xgetbv now (a few hundred cycles).
CpuFeatures probe_cpu_features();
// This CPU's features, probed on first use.
const CpuFeatures& cpu_features();

bool isa_supported(Isa isa, const CpuFeatures& f);
Isa best_isa(const CpuFeatures& f);
Isa best_isa();                     // of this CPU, ignoring TANDEM_ISA
std::vector<Isa> supported_isas();  // of this CPU, kScalar first; tests loop over it

std::string_view isa_name(Isa isa);  // "scalar", "avx2", "avx512"
// "avx512 (vnni, bf16, vbmi)", "avx2 (avx-vnni)": the ISA and the extras that matter
// to its kernels.
std::string describe_isa(Isa isa, const CpuFeatures& f);

// A TANDEM_ISA value checked against f: "" -> best_isa(f); "scalar", "avx2", "avx512"
// -> that level if f has it. kInvalidArgument names an unknown value; kUnsupported
// names the features the CPU (or the OS) lacks.
Result<Isa> resolve_isa(std::string_view request, const CpuFeatures& f);

// The level the engine runs: resolve_isa(TANDEM_ISA, cpu_features()). The variable is
// read once per process, on the first call; later changes to it are not seen.
Result<Isa> runtime_isa();

}  // namespace tandem::cpu
