#include "cpu/isa.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace tandem::cpu {
namespace {

struct Regs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

// cpuid(leaf, subleaf); all zero when the leaf is past the CPU's maximum.
Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Regs{};
  return r;
}

// XCR0: which register states the OS saves on a context switch. Only valid when
// cpuid.1:ECX.OSXSAVE is set (xgetbv faults otherwise).
uint64_t xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

bool bit(uint32_t v, int b) { return (v >> b) & 1u; }

// TANDEM_ISA as read on the first call of runtime_isa(); plain data, so it may live
// in static storage.
struct IsaRequest {
  char value[16];   // NUL-terminated, truncated (too_long) if longer
  bool too_long;
};

IsaRequest read_isa_request() {
  IsaRequest r{};
  const char* v = std::getenv("TANDEM_ISA");
  if (v == nullptr) return r;
  const size_t n = std::strlen(v);
  r.too_long = n >= sizeof(r.value);
  std::memcpy(r.value, v, r.too_long ? sizeof(r.value) - 1 : n);
  return r;
}

std::string missing_features(Isa isa, const CpuFeatures& f) {
  std::string m;
  auto need = [&m](bool have, const char* name) {
    if (have) return;
    if (!m.empty()) m += ", ";
    m += name;
  };
  if (isa == Isa::kScalar) return m;
  need(f.avx2, "AVX2");
  need(f.fma, "FMA");
  need(f.f16c, "F16C");
  need(f.os_ymm, "OS support for YMM state");
  if (isa == Isa::kAvx2) return m;
  need(f.avx512f, "AVX-512F");
  need(f.avx512bw, "AVX-512BW");
  need(f.avx512vl, "AVX-512VL");
  need(f.avx512dq, "AVX-512DQ");
  need(f.os_zmm, "OS support for ZMM state");
  return m;
}

}  // namespace

CpuFeatures probe_cpu_features() {
  CpuFeatures f;
  const Regs l1 = cpuid(1, 0);
  const bool osxsave = bit(l1.ecx, 27);
  const bool avx = bit(l1.ecx, 28);
  f.fma = bit(l1.ecx, 12);
  f.f16c = bit(l1.ecx, 29);
  if (osxsave) {
    const uint64_t x = xcr0();
    f.os_ymm = avx && (x & 0x6) == 0x6;        // SSE (bit 1) and AVX (bit 2) state
    f.os_zmm = f.os_ymm && (x & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM (bits 5-7)
  }
  const Regs l7 = cpuid(7, 0);
  f.avx2 = bit(l7.ebx, 5);
  f.avx512f = bit(l7.ebx, 16);
  f.avx512dq = bit(l7.ebx, 17);
  f.avx512bw = bit(l7.ebx, 30);
  f.avx512vl = bit(l7.ebx, 31);
  f.avx512_vbmi = bit(l7.ecx, 1);
  f.avx512_vnni = bit(l7.ecx, 11);
  if (l7.eax >= 1) {  // subleaf 1 exists
    const Regs l71 = cpuid(7, 1);
    f.avx_vnni = bit(l71.eax, 4);
    f.avx512_bf16 = bit(l71.eax, 5);
  }
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe_cpu_features();  // trivially destructible
  return f;
}

bool isa_supported(Isa isa, const CpuFeatures& f) { return missing_features(isa, f).empty(); }

Isa best_isa(const CpuFeatures& f) {
  if (isa_supported(Isa::kAvx512, f)) return Isa::kAvx512;
  if (isa_supported(Isa::kAvx2, f)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa best_isa() { return best_isa(cpu_features()); }

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(isa, cpu_features())) v.push_back(isa);
  return v;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

std::string describe_isa(Isa isa, const CpuFeatures& f) {
  std::string s(isa_name(isa));
  if (isa == Isa::kAvx2) return f.avx_vnni ? s + " (avx-vnni)" : s;
  if (isa != Isa::kAvx512) return s;
  std::string extras;
  auto add = [&extras](bool have, const char* name) {
    if (!have) return;
    extras += extras.empty() ? "" : ", ";
    extras += name;
  };
  add(f.avx512_vnni, "vnni");
  add(f.avx512_bf16, "bf16");
  add(f.avx512_vbmi, "vbmi");
  return extras.empty() ? s : s + " (" + extras + ")";
}

Result<Isa> resolve_isa(std::string_view request, const CpuFeatures& f) {
  if (request.empty()) return best_isa(f);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (request != isa_name(isa)) continue;
    const std::string missing = missing_features(isa, f);
    if (!missing.empty())
      return Error(Code::kUnsupported)
             << "TANDEM_ISA=" << request << " forces the " << isa_name(isa)
             << " kernels, but this CPU lacks " << missing << " (best available: "
             << isa_name(best_isa(f)) << ")";
    return isa;
  }
  return Error(Code::kInvalidArgument) << "TANDEM_ISA='" << request
                                       << "' is not one of scalar, avx2, avx512";
}

Result<Isa> runtime_isa() {
  static const IsaRequest request = read_isa_request();  // trivially destructible
  if (request.too_long)
    return Error(Code::kInvalidArgument) << "TANDEM_ISA='" << request.value
                                         << "...' is not one of scalar, avx2, avx512";
  return resolve_isa(request.value, cpu_features());
}

}  // namespace tandem::cpu
