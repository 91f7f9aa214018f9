// The dlopen path with no GPU: a fake backend library is found, version-checked and
// used; missing libraries, wrong ABIs and backend refusals come back as errors fit for
// "no CUDA device (<reason>)". The real libtandem_cuda.so is loaded too when built: it
// reports the device, or why there is none.
#include <gtest/gtest.h>

#include <string>

#include "gpu/loader.h"
#include "test_data.h"

namespace tandem::gpu {
namespace {

LoaderOptions fake(std::vector<std::string> paths) {
  LoaderOptions o;
  o.library_paths = std::move(paths);
  o.probe_driver = false;  // the fake needs no driver
  return o;
}

TEST(Loader, LoadsAFakeBackendAndItsAllocator) {
  auto lb = load_gpu_backend(fake({"/no/such/dir/libtandem_cuda.so", TANDEM_FAKE_BACKEND}));
  ASSERT_TRUE(lb) << lb.error().message();
  EXPECT_EQ(lb->library(), TANDEM_FAKE_BACKEND);
  const DeviceInfo& d = lb->backend().device();
  EXPECT_EQ(d.name, "Fake GPU");
  EXPECT_EQ(d.sm_count, 40);
  EXPECT_EQ(describe(d), "Fake GPU (sm_75, 40 SMs, 16.00 GiB, 15.71 GiB free)");
  auto a = lb->backend().make_allocator(uint64_t{1} << 30);
  ASSERT_TRUE(a) << a.error().message();
  auto buf = (*a)->allocate(uint64_t{1} << 29, "half the budget");
  ASSERT_TRUE(buf) << buf.error().message();
  EXPECT_FALSE((*a)->allocate((uint64_t{1} << 29) + 1, "too much"));
}

TEST(Loader, MissingLibraryNamesWhereItLooked) {
  auto lb = load_gpu_backend(fake({"/no/such/a/libtandem_cuda.so", "/no/such/b/libtandem_cuda.so"}));
  ASSERT_FALSE(lb);
  EXPECT_EQ(lb.error().code(), Code::kNotFound);
  const std::string& m = lb.error().message();
  EXPECT_NE(m.find("libtandem_cuda.so not found"), std::string::npos) << m;
  EXPECT_NE(m.find("/no/such/a/libtandem_cuda.so"), std::string::npos) << m;
  EXPECT_NE(m.find("/no/such/b/libtandem_cuda.so"), std::string::npos) << m;
}

TEST(Loader, RefusesAnotherAbiVersion) {
  auto lb = load_gpu_backend(fake({TANDEM_FAKE_BACKEND_ABI999}));
  ASSERT_FALSE(lb);
  EXPECT_EQ(lb.error().code(), Code::kUnsupported);
  EXPECT_NE(lb.error().message().find("ABI 999"), std::string::npos) << lb.error().message();
  EXPECT_NE(lb.error().message().find("needs " + std::to_string(kGpuBackendAbi)), std::string::npos);
}

TEST(Loader, RefusesALibraryThatIsNotABackend) {
  // libstdc++ loads, but has no tandem entry points.
  auto lb = load_gpu_backend(fake({"libstdc++.so.6"}));
  ASSERT_FALSE(lb);
  EXPECT_EQ(lb.error().code(), Code::kUnsupported);
  EXPECT_NE(lb.error().message().find("not a Tandem GPU backend"), std::string::npos) << lb.error().message();
}

TEST(Loader, PassesTheBackendsReason) {
  LoaderOptions o = fake({TANDEM_FAKE_BACKEND});
  o.device = 3;
  auto lb = load_gpu_backend(o);
  ASSERT_FALSE(lb);
  EXPECT_NE(lb.error().message().find("fake backend: no device 3 (1 found)"), std::string::npos)
      << lb.error().message();
}

TEST(Loader, DefaultPathsCoverBesideInstalledAndBuildTree) {
  const std::vector<std::string> p = default_library_paths("/opt/t/bin");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0], "/opt/t/bin/libtandem_cuda.so");
  EXPECT_EQ(p[1], "/opt/t/bin/../lib/libtandem_cuda.so");
  EXPECT_EQ(p[2], "/opt/t/bin/../gpu/libtandem_cuda.so");
  EXPECT_EQ(p[3], "libtandem_cuda.so");
  EXPECT_EQ(default_library_paths("").size(), 1u);
  EXPECT_FALSE(program_dir().empty());
}

#ifdef TANDEM_CUDA_LIBRARY
// The real backend, through the same path the engine takes (minus the driver probe,
// so its own cudaGetDeviceCount runs): a device, or the runtime's reason.
TEST(Loader, RealCudaLibraryReportsADeviceOrWhyNot) {
  auto lb = load_gpu_backend(fake({TANDEM_CUDA_LIBRARY}));
  if (lb) {
    const DeviceInfo& d = lb->backend().device();
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.sm_count, 0);
    EXPECT_GE(d.cc_major, 7);
    EXPECT_GT(d.total_bytes, d.free_bytes);
    std::printf("[ device  ] %s\n", describe(d).c_str());
  } else {
    EXPECT_NE(lb.error().message().find("cudaGetDeviceCount"), std::string::npos) << lb.error().message();
    std::printf("[ no GPU  ] %s\n", lb.error().message().c_str());
  }
}
#endif

TEST(Loader, DriverProbeSaysWhenThereIsNoDriver) {
  LoaderOptions o;
  o.library_paths = {TANDEM_FAKE_BACKEND};
  o.probe_driver = true;
  auto lb = load_gpu_backend(o);
  if (lb) GTEST_SKIP() << "this machine has a CUDA driver";
  EXPECT_EQ(lb.error().code(), Code::kNotFound);
  EXPECT_NE(lb.error().message().find("no CUDA driver"), std::string::npos) << lb.error().message();
  EXPECT_NE(lb.error().message().find("libcuda.so.1"), std::string::npos) << lb.error().message();
}

}  // namespace
}  // namespace tandem::gpu
