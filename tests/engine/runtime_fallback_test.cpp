// open_runtime when the device refuses the model as unsupported (kUnsupported from
// placing it: a weight type or KV layout its kernels cannot take), shown with an
// emulated GPU made to refuse: with RuntimeDevice::cpu_fallback the whole model runs on
// the CPU, bit for bit as a CPU-only runtime, and Runtime::device_refusal says why;
// without it the refusal is the error, naming the device and the reason. Other device
// failures (out of memory) are errors either way, and a device that takes the model is
// used as before.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/device_compare.h"
#include "engine/emulated_gpu.h"
#include "engine/memory_plan.h"
#include "engine/runtime.h"
#include "test_data.h"

namespace tandem {
namespace {

using testing::plan_config;
using testing::plan_model;

constexpr const char* kModel = "models/synthetic/tiny-llama-spm512-q4_0.gguf";
constexpr const char* kWhy = "no kernel for this test's weights";

// The emulated GPU with allocators a byte short of their budget: placing any plan runs
// out of memory.
class ShortMemoryBackend final : public gpu::GpuBackend {
 public:
  const gpu::DeviceInfo& device() const override { return inner_.device(); }
  Result<gpu::DeviceInfo> refresh_memory() override { return inner_.refresh_memory(); }
  Result<std::unique_ptr<gpu::Allocator>> make_allocator(uint64_t budget) override {
    return inner_.make_allocator(budget - 1);
  }
  Result<std::unique_ptr<gpu::GpuExecutor>> create_executor(const gpu::ExecutorDesc& desc,
                                                            gpu::Allocator& alloc) override {
    return inner_.create_executor(desc, alloc);
  }

 private:
  EmulatedGpuBackend inner_;
};

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The model, a 64-token context and a plan that puts 2 layers and the head on a device.
class RuntimeFallback : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::test_data_path(kModel);
    TANDEM_REQUIRE_DATA(path_);
    cc_.n_ctx = 64;
    cc_.n_threads = 2;
    auto model = testing::load_model(path_);
    ASSERT_NE(model, nullptr);
    auto plan = plan_memory(plan_model(*model), plan_config(cc_, 2, std::nullopt));
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_FALSE(plan->items.empty());
    plan_ = std::move(*plan);
  }

  Result<Runtime> open(gpu::GpuBackend& backend, bool cpu_fallback) {
    return open_runtime(path_, cc_, RuntimeDevice{&backend, &plan_, cpu_fallback});
  }

  std::string path_;
  ContextConfig cc_;
  MemoryPlan plan_;
};

TEST_F(RuntimeFallback, ARefusedModelRunsWhollyOnTheCpu) {
  auto cpu = open_runtime(path_, cc_);
  ASSERT_TRUE(cpu) << cpu.error().message();
  EXPECT_EQ(cpu->device_refusal, "");
  EmulatedGpuBackend refusing(kWhy);
  auto rt = open(refusing, /*cpu_fallback=*/true);
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ(rt->device_refusal, kWhy);
  EXPECT_EQ(rt->context->device(), nullptr);
  EXPECT_EQ(rt->context->cpu_layers(), rt->model->config().n_layer);
  EXPECT_EQ(rt->model->packed_bytes(), cpu->model->packed_bytes()) << "every layer is packed for the CPU again";
  // The same path as the CPU-only runtime: the same logits to the bit, prompt and steps.
  std::vector<int32_t> next = {1, 403, 407, 261};
  for (int step = 0; step < 8; ++step) {
    auto a = cpu->context->decode(next, false);
    auto b = rt->context->decode(next, false);
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(same_bits(*a, *b)) << "step " << step;
    next = {testing::top2(*a).first};
  }
}

TEST_F(RuntimeFallback, WithoutFallbackTheRefusalIsTheError) {
  EmulatedGpuBackend refusing(kWhy);
  auto rt = open(refusing, /*cpu_fallback=*/false);
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code(), Code::kUnsupported);
  EXPECT_EQ(rt.error().message(), refusing.device().name + " cannot run this model: " + kWhy);
}

TEST_F(RuntimeFallback, OutOfMemoryIsAnErrorEvenWithFallback) {
  ShortMemoryBackend short_memory;
  auto rt = open(short_memory, /*cpu_fallback=*/true);
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code(), Code::kOutOfMemory) << rt.error().message();
}

TEST_F(RuntimeFallback, ADeviceThatTakesTheModelIsUsed) {
  EmulatedGpuBackend backend;
  auto rt = open(backend, /*cpu_fallback=*/true);
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ(rt->device_refusal, "");
  ASSERT_NE(rt->context->device(), nullptr);
  EXPECT_EQ(rt->context->cpu_layers(), plan_.first_gpu_layer());
}

}  // namespace
}  // namespace tandem
