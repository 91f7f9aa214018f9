// --gpu-emulate (and TANDEM_GPU_EMULATE=1) on run, chat and bench: the plan is printed,
// then the line saying the GPU is emulated; the plan's layers run on the emulated GPU
// (reference kernels in host memory) and greedy text equals the CPU run's on
// stories260K (a trained model: every top-2 margin of these continuations is far above
// the 1e-4 logit tolerance of tests/engine/emulated_gpu_test.cpp); a plan that cannot
// fit is refused before loading.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_tandem.h"
#include "test_data.h"

namespace {

using tandem::testing::Ran;
using tandem::testing::run_tandem;
using tandem::testing::shq;

std::string stories() { return tandem::testing::test_data_path("models/stories260K.gguf"); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

const char* kEmulated = "tandem: the GPU is emulated (--gpu-emulate: host memory, reference kernels, no CUDA device used); ";

TEST(CliGpuEmulate, RunGivesTheCpuGreedyText) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "run -m " + shq(stories()) + " -p 'Once upon a time' -n 32 --temp 0 -t 2";
  const Ran cpu = run_tandem(base);
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  ASSERT_GT(cpu.out.size(), 40u) << cpu.out;
  for (const auto& [flags, where] :
       {std::pair<std::string, std::string>{"--gpu-emulate --gpu-layers 1", "the output head and layer 4 run there"},
        {"--gpu-emulate --gpu-layers 4", "the output head and layers 1-4 run there"},
        {"--gpu-emulate", "the output head and layers 0-4 run there"}}) {
    SCOPED_TRACE(flags);
    const Ran r = run_tandem(base + " " + flags);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, cpu.out);
    EXPECT_TRUE(has(r.err, "GPU memory plan for ")) << r.err;
    EXPECT_TRUE(has(r.err, std::string(kEmulated) + where + ", the rest on the CPU\n")) << r.err;
    EXPECT_LT(r.err.find("GPU memory plan"), r.err.find(kEmulated)) << "the plan comes first";
    EXPECT_FALSE(has(r.err, "no CUDA device (")) << "the CUDA library is not even looked for\n" << r.err;
  }
}

TEST(CliGpuEmulate, EnvironmentVariableAndAutoUnderABudget) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "run -m " + shq(stories()) + " -p 'Once upon a time' -n 16 --temp 0 -t 2";
  const Ran cpu = run_tandem(base);
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  // 99 MiB: the fixed parts (96 MiB of cuBLAS workspace and graph reserve, 1.6 MiB of
  // activations and workspace for 512-token batches) and the 128 KiB head, then 1.26 MiB
  // for layers of 177.5 KiB of weights and 258 KiB of KV (2048 tokens): two fit.
  setenv("TANDEM_GPU_EMULATE", "1", 1);
  const Ran r = run_tandem(base + " --gpu-mem 99M");
  unsetenv("TANDEM_GPU_EMULATE");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, cpu.out);
  EXPECT_TRUE(has(r.err, "budget: 99.00 MiB")) << r.err;
  EXPECT_TRUE(has(r.err, std::string(kEmulated) + "the output head and layers 3-4 run there")) << r.err;
}

TEST(CliGpuEmulate, APlanThatCannotFitIsRefusedBeforeLoading) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run_tandem("run -m " + shq(stories()) + " -p hi --gpu-emulate --gpu-mem 64M --gpu-layers 5");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "tandem: error: the GPU memory plan does not fit")) << r.err;
  EXPECT_FALSE(has(r.err, kEmulated)) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliGpuEmulate, BenchTakesTheGpuFlags) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run_tandem("bench -m " + shq(stories()) + " -t 2 -p 8 -n 4 --batch 1,2 -r 1 --json --gpu-emulate --gpu-layers 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "context 8 x 2 sequences")) << "planned for bench's context and batch:\n" << r.err;
  EXPECT_TRUE(has(r.err, std::string(kEmulated) + "the output head and layers 3-4 run there")) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["n_gpu_layers"], 2);
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
  }
  const Ran cpu = run_tandem("bench -m " + shq(stories()) + " -t 2 -p 0 -n 2 -r 1 --json");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  EXPECT_EQ(nlohmann::json::parse(cpu.out)[0]["n_gpu_layers"], 0);
}

TEST(CliGpuEmulate, ChatRunsOnTheEmulatedGpu) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "chat -m " + shq(stories()) + " --chat-template chatml -n 6 --temp 0 -t 2";
  const Ran cpu = run_tandem(base, "Hello\nOnce upon a time\n");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  const Ran r = run_tandem(base + " --gpu-emulate --gpu-layers 3", "Hello\nOnce upon a time\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, std::string(kEmulated) + "the output head and layers 2-4 run there")) << r.err;
  EXPECT_EQ(r.out, cpu.out);
}

}  // namespace
