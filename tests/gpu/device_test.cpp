// Device discovery, the CUDA RAII types, the CUDA allocator and error reporting. The
// first tests run on any machine (no device needed); the fixture's skip without one.
#include <gtest/gtest.h>

#include <cstring>

#include "gpu/backend.h"
#include "gpu/cuda/cublas_handle.h"
#include "gpu/cuda/cuda_error.h"
#include "gpu/cuda/event.h"
#include "gpu/cuda/gemv_quant.cuh"
#include "gpu/cuda/pinned_buffer.h"
#include "gpu/cuda/residual_add.cuh"
#include "gpu/cuda/rope.cuh"
#include "gpu_test_util.h"

extern "C" uint32_t tandem_gpu_abi_version();
extern "C" tandem::gpu::GpuBackend* tandem_cuda_create(const tandem_gpu_create_args* args);

namespace tandem::gpu {
namespace {

using testing::GpuTest;

TEST(CudaError, NamesTheCallTheSizesThePlaceAndTheReason) {
  const int line = __LINE__ + 1;
  const Error e = cuda_error(cudaErrorMemoryAllocation, "cudaMalloc", "1048576 bytes for blk.3 weights");
  EXPECT_EQ(e.code(), Code::kOutOfMemory);
  const std::string& m = e.message();
  for (const std::string& needle : {std::string("cudaMalloc(1048576 bytes for blk.3 weights) failed at "),
                                   "device_test.cpp:" + std::to_string(line), std::string("cudaErrorMemoryAllocation = 2")})
    EXPECT_NE(m.find(needle), std::string::npos) << needle << " missing in: " << m;
  EXPECT_EQ(cuda_error(cudaErrorNoDevice, "cudaGetDeviceCount").code(), Code::kUnsupported);
  EXPECT_EQ(cuda_error(cudaErrorIllegalAddress, "cudaStreamSynchronize").code(), Code::kInternal);
  EXPECT_TRUE(cuda_status(cudaSuccess, "nothing"));
  const Error b = cublas_error(CUBLAS_STATUS_ALLOC_FAILED, "cublasCreate");
  EXPECT_EQ(b.code(), Code::kOutOfMemory);
  EXPECT_NE(b.message().find("CUBLAS_STATUS_ALLOC_FAILED"), std::string::npos) << b.message();
}

TEST(Device, CountsDevicesOrSaysWhyNot) {
  auto n = device_count();
  if (n) {
    EXPECT_GE(*n, 1);
  } else {
    EXPECT_EQ(n.error().code(), Code::kUnsupported);
    EXPECT_NE(n.error().message().find("cudaGetDeviceCount"), std::string::npos) << n.error().message();
  }
}

TEST(Backend, EntryPointMakesABackendOrGivesTheReason) {
  EXPECT_EQ(tandem_gpu_abi_version(), kGpuBackendAbi);
  char why[256] = {};
  tandem_gpu_create_args bad_abi{kGpuBackendAbi + 1, 0, why, sizeof(why)};
  EXPECT_EQ(tandem_cuda_create(&bad_abi), nullptr);
  EXPECT_NE(std::strstr(why, "ABI"), nullptr) << why;

  why[0] = 0;
  tandem_gpu_create_args args{kGpuBackendAbi, 0, why, sizeof(why)};
  std::unique_ptr<GpuBackend> b(tandem_cuda_create(&args));
  if (!device_count()) {
    EXPECT_EQ(b, nullptr);
    EXPECT_NE(std::strstr(why, "cudaGetDeviceCount"), nullptr) << why;
    return;
  }
  ASSERT_NE(b, nullptr) << why;
  EXPECT_FALSE(b->device().name.empty());
  auto mem = b->refresh_memory();
  ASSERT_TRUE(mem) << mem.error().message();
  EXPECT_LE(mem->free_bytes, mem->total_bytes);
  auto a = b->make_allocator(uint64_t{1} << 20);
  ASSERT_TRUE(a) << a.error().message();
  auto buf = (*a)->allocate(4096, "backend allocator");
  ASSERT_TRUE(buf) << buf.error().message();
  EXPECT_FALSE((*a)->allocate(uint64_t{1} << 20, "past the budget"));
}

TEST(Launchers, RejectShapesOffTheContractWithoutTouchingTheDevice) {
  EXPECT_EQ(gemv_q8_0(nullptr, nullptr, nullptr, GemvShape{4, 33, 1}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(gemv_q4_0(nullptr, nullptr, nullptr, GemvShape{4, 64, 0}, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(gemv_q4_0(nullptr, nullptr, nullptr, GemvShape{4, 64, kGemvMaxTokens + 1}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(gemv_q8_0(nullptr, nullptr, nullptr, GemvShape{0, 64, 1}, nullptr), cudaSuccess);  // nothing to do
  RopeArgs r;
  r.n_tokens = 1, r.n_heads = 1, r.head_dim = 64, r.n_rot = 63;
  EXPECT_EQ(rope_f32(nullptr, r, nullptr), cudaErrorInvalidValue);
  r.n_rot = 66;
  EXPECT_EQ(rope_f32(nullptr, r, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(residual_add_f32(nullptr, nullptr, nullptr, 0, nullptr), cudaSuccess);
}

TEST_F(GpuTest, DeviceInfoIsFilledIn) {
  auto d = query_device(0);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_FALSE(d->name.empty());
  EXPECT_GT(d->sm_count, 0);
  EXPECT_GE(d->cc_major * 10 + d->cc_minor, 75);  // this build's oldest target
  EXPECT_GT(d->total_bytes, 0u);
  EXPECT_LE(d->free_bytes, d->total_bytes);
  EXPECT_GE(d->driver_version, d->runtime_version / 1000 * 1000) << "driver older than the runtime";
  EXPECT_FALSE(query_device(1000));
  std::printf("[ device   ] %s, driver %d, runtime %d\n", describe(*d).c_str(), d->driver_version, d->runtime_version);
}

TEST_F(GpuTest, StreamsEventsAndPinnedBuffersWorkAndMove) {
  const size_t n = 1 << 20;
  auto pinned = PinnedBuffer::create(n * sizeof(float), "staging");
  ASSERT_TRUE(pinned) << pinned.error().message();
  PinnedBuffer staging = std::move(*pinned);
  EXPECT_EQ(pinned->data(), nullptr);
  float* host = staging.as<float>();
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>(i);

  auto other = CudaStream::create();
  ASSERT_TRUE(other);
  CudaStream s2 = std::move(*other);
  EXPECT_EQ(other->get(), nullptr);
  auto start = CudaEvent::create(/*timing=*/true), end = CudaEvent::create(true), done = CudaEvent::create();
  ASSERT_TRUE(start && end && done);

  auto buf = alloc_->allocate(n * sizeof(float), "x");
  ASSERT_TRUE(buf);
  ASSERT_TRUE(start->record(stream()));
  ASSERT_TRUE(copy_to_device(buf->data(), host, n * sizeof(float), stream()));
  ASSERT_EQ(residual_add_f32(buf->as<float>(), buf->as<float>(), buf->as<float>(), n, stream()), cudaSuccess);
  ASSERT_TRUE(end->record(stream()));
  ASSERT_TRUE(done->record(stream()));
  ASSERT_TRUE(done->wait_on(s2.get()));  // the second stream reads only after the add
  std::vector<float> back(n);
  ASSERT_TRUE(copy_to_host(back.data(), buf->data(), n * sizeof(float), s2.get()));
  ASSERT_TRUE(s2.synchronize());
  for (size_t i = 0; i < n; i += 4097) ASSERT_EQ(back[i], 2.f * static_cast<float>(i)) << i;
  ASSERT_TRUE(end->synchronize());
  auto ms = CudaEvent::elapsed_ms(*start, *end);
  ASSERT_TRUE(ms) << ms.error().message();
  EXPECT_GE(*ms, 0.f);
}

TEST_F(GpuTest, CublasHandleTakesAStreamAndAWorkspace) {
  auto h = CublasHandle::create();
  ASSERT_TRUE(h) << h.error().message();
  CublasHandle handle = std::move(*h);
  EXPECT_EQ(h->get(), nullptr);
  ASSERT_TRUE(handle.set_stream(stream()));
  auto ws = alloc_->allocate(kCublasWorkspaceBytes, "cuBLAS workspace");
  ASSERT_TRUE(ws);
  const Status st = handle.set_workspace(ws->data(), ws->bytes());
  EXPECT_TRUE(st) << st.error().message();
}

TEST_F(GpuTest, CudaAllocatorKeepsItsBudgetAndReportsDeviceOutOfMemory) {
  CudaAllocator small(0, uint64_t{1} << 20, "GPU 0");
  auto a = small.allocate(uint64_t{3} << 18, "three quarters");
  ASSERT_TRUE(a) << a.error().message();
  auto b = small.allocate(uint64_t{1} << 19, "half");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("over the GPU memory budget"), std::string::npos) << b.error().message();
  EXPECT_EQ(small.high_water(), uint64_t{3} << 18);

  auto d = query_device(0);
  ASSERT_TRUE(d);
  auto huge = alloc_->allocate(d->total_bytes * 2, "twice the device");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), Code::kOutOfMemory);
  const std::string& m = huge.error().message();
  EXPECT_NE(m.find("cudaMalloc(" + std::to_string(d->total_bytes * 2) + " bytes for twice the device"),
            std::string::npos) << m;
  EXPECT_NE(m.find("free of"), std::string::npos) << m;
  auto after = alloc_->allocate(4096, "still works");  // the failure is not sticky
  EXPECT_TRUE(after) << after.error().message();
}

}  // namespace
}  // namespace tandem::gpu
