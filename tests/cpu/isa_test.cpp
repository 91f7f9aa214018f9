// ISA detection and the TANDEM_ISA override.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cpu/isa.h"

namespace tandem {
namespace {

using cpu::CpuFeatures;
using cpu::Isa;

CpuFeatures avx2_only() {
  CpuFeatures f;
  f.os_ymm = f.avx2 = f.fma = f.f16c = true;
  return f;
}

CpuFeatures avx512_vnni() {
  CpuFeatures f = avx2_only();
  f.os_zmm = f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512_vnni = true;
  return f;
}

TEST(Isa, BestFollowsFeatures) {
  EXPECT_EQ(cpu::best_isa(CpuFeatures{}), Isa::kScalar);
  EXPECT_EQ(cpu::best_isa(avx2_only()), Isa::kAvx2);
  EXPECT_EQ(cpu::best_isa(avx512_vnni()), Isa::kAvx512);
  CpuFeatures no_os_zmm = avx512_vnni();  // the OS does not save ZMM state
  no_os_zmm.os_zmm = false;
  EXPECT_EQ(cpu::best_isa(no_os_zmm), Isa::kAvx2);
  CpuFeatures no_f16c = avx2_only();
  no_f16c.f16c = false;
  EXPECT_EQ(cpu::best_isa(no_f16c), Isa::kScalar);
  CpuFeatures no_bw = avx512_vnni();
  no_bw.avx512bw = false;
  EXPECT_EQ(cpu::best_isa(no_bw), Isa::kAvx2);
}

TEST(Isa, ResolveRequest) {
  const CpuFeatures f = avx512_vnni();
  EXPECT_EQ(*cpu::resolve_isa("", f), Isa::kAvx512);
  EXPECT_EQ(*cpu::resolve_isa("scalar", f), Isa::kScalar);
  EXPECT_EQ(*cpu::resolve_isa("avx2", f), Isa::kAvx2);
  EXPECT_EQ(*cpu::resolve_isa("avx512", f), Isa::kAvx512);
  EXPECT_EQ(*cpu::resolve_isa("", CpuFeatures{}), Isa::kScalar);
  EXPECT_EQ(*cpu::resolve_isa("scalar", CpuFeatures{}), Isa::kScalar);
}

TEST(Isa, ForcingAnIsaTheCpuLacksFailsLoudly) {
  const auto r = cpu::resolve_isa("avx512", avx2_only());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.error().code(), Code::kUnsupported);
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("TANDEM_ISA=avx512"), std::string::npos) << m;
  EXPECT_NE(m.find("AVX-512F"), std::string::npos) << m;
  EXPECT_NE(m.find("best available: avx2"), std::string::npos) << m;
  EXPECT_EQ(m.find("AVX2"), std::string::npos) << "AVX2 is present, not missing: " << m;

  const auto s = cpu::resolve_isa("avx2", CpuFeatures{});
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.error().message().find("AVX2, FMA, F16C"), std::string::npos) << s.error().message();
}

TEST(Isa, UnknownRequestIsInvalid) {
  for (const char* bad : {"sse4", "AVX2", "avx512vnni", " avx2"}) {
    const auto r = cpu::resolve_isa(bad, avx512_vnni());
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.error().message().find("scalar, avx2, avx512"), std::string::npos) << r.error().message();
  }
}

TEST(Isa, SupportedListIsOrderedAndEndsWithBest) {
  const auto v = cpu::supported_isas();
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front(), Isa::kScalar);
  EXPECT_EQ(v.back(), cpu::best_isa());
  for (size_t i = 1; i < v.size(); ++i) EXPECT_LT(static_cast<int>(v[i - 1]), static_cast<int>(v[i]));
}

// Our cpuid/xgetbv probe against GCC's own (which also checks the OS's XCR0).
TEST(Isa, ProbeAgreesWithCompilerBuiltins) {
  const CpuFeatures& f = cpu::cpu_features();
  EXPECT_EQ(f.avx2 && f.os_ymm, static_cast<bool>(__builtin_cpu_supports("avx2")));
  EXPECT_EQ(f.fma && f.os_ymm, static_cast<bool>(__builtin_cpu_supports("fma")));
  EXPECT_EQ(f.avx512f && f.os_zmm, static_cast<bool>(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(f.avx512bw && f.os_zmm, static_cast<bool>(__builtin_cpu_supports("avx512bw")));
  EXPECT_EQ(f.avx512vl && f.os_zmm, static_cast<bool>(__builtin_cpu_supports("avx512vl")));
  EXPECT_EQ(f.avx512dq && f.os_zmm, static_cast<bool>(__builtin_cpu_supports("avx512dq")));
  EXPECT_EQ(f.avx512_vnni && f.os_zmm, static_cast<bool>(__builtin_cpu_supports("avx512vnni")));
  std::printf("[ info ] this CPU: %s\n", cpu::describe_isa(cpu::best_isa(), f).c_str());
}

TEST(Isa, RuntimeIsaHonoursTheEnvironment) {
  const char* env = std::getenv("TANDEM_ISA");
  const auto want = cpu::resolve_isa(env != nullptr ? env : "", cpu::cpu_features());
  const auto got = cpu::runtime_isa();
  ASSERT_EQ(got.is_ok(), want.is_ok());
  if (got.is_ok()) {
    EXPECT_EQ(*got, *want);
  }
}

TEST(Isa, Describe) {
  EXPECT_EQ(cpu::describe_isa(Isa::kAvx512, avx512_vnni()), "avx512 (vnni)");
  EXPECT_EQ(cpu::describe_isa(Isa::kAvx2, avx512_vnni()), "avx2");
  CpuFeatures plain = avx512_vnni();
  plain.avx512_vnni = false;
  EXPECT_EQ(cpu::describe_isa(Isa::kAvx512, plain), "avx512");
}

}  // namespace
}  // namespace tandem
