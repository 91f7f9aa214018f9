// The GPU flags of run, chat and inspect on any machine: the plan is printed before
// the run, a machine without a CUDA device says so once and runs on the CPU with the
// same output, and bad sizes or plans that cannot fit fail with one clear line.

#include <string>

#include <gtest/gtest.h>

#include "run_tandem.h"
#include "test_data.h"

namespace {

using tandem::testing::Ran;

Ran run(const std::string& args) { return tandem::testing::run_tandem(args); }

std::string stories() { return tandem::testing::test_data_path("models/stories260K.gguf"); }

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Either the GPU line or the CPU note, exactly once.
void expect_device_line_once(const std::string& err) {
  const bool cpu = has(err, "tandem: no CUDA device (");
  const bool gpu = has(err, "tandem: GPU ") && has(err, " SMs, ");
  EXPECT_NE(cpu, gpu) << err;
  if (cpu) {
    EXPECT_TRUE(has(err, "); running on the CPU\n")) << err;
    EXPECT_EQ(err.find("no CUDA device"), err.rfind("no CUDA device")) << "said more than once:\n" << err;
  }
}

TEST(CliGpu, RunPrintsThePlanSaysWhereItRunsAndGeneratesAsBefore) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "run -m '" + stories() + "' -p 'Once upon a time' -n 12 --temp 0";
  const Ran plain = run(base);
  ASSERT_EQ(plain.code, 0) << plain.err;
  expect_device_line_once(plain.err);
  EXPECT_FALSE(has(plain.err, "GPU memory plan")) << "no GPU flag and no GPU: no plan expected\n" << plain.err;

  const Ran r = run(base + " --gpu-mem 16G --gpu-layers auto");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "tandem: GPU budget from --gpu-mem\nGPU memory plan for ")) << r.err;
  EXPECT_TRUE(has(r.err, "budget: 16.00 GiB (17179869184 bytes)")) << r.err;
  EXPECT_TRUE(has(r.err, "on the GPU: output head + layers 0-4 (5 of 5 layers)")) << r.err;
  EXPECT_TRUE(has(r.err, "total on the GPU: ")) << r.err;
  expect_device_line_once(r.err);
  EXPECT_LT(r.err.find("GPU memory plan"), r.err.find("tandem: " + std::string(has(r.err, "no CUDA") ? "no CUDA" : "GPU ")))
      << "the plan comes first";
  EXPECT_EQ(r.out, plain.out);  // the flags change where, not what
  EXPECT_FALSE(r.out.empty());
}

TEST(CliGpu, ExplicitLayersThatDoNotFitAreRefusedBeforeLoading) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run("run -m '" + stories() + "' -p hi --gpu-mem 64M --gpu-layers 5");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  for (const char* needle : {"tandem: error: the GPU memory plan does not fit", "--gpu-layers 5", "64.00 MiB",
                             "67108864 bytes", "cuBLAS workspace 32.00 MiB", "0 layers fit"})
    EXPECT_TRUE(has(r.err, needle)) << needle << " missing in: " << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliGpu, BadFlagValuesFailWithOneLine) {
  TANDEM_REQUIRE_DATA(stories());
  for (const auto& [flags, needle] : {std::pair{"--gpu-mem 12X", "bad size '12X'"}, {"--gpu-mem -1G", "bad size"},
                                      {"--gpu-layers many", "bad --gpu-layers 'many'"}}) {
    const Ran r = run("run -m '" + stories() + "' -p hi " + flags);
    EXPECT_EQ(r.code, 1) << flags;
    EXPECT_EQ(count_lines(r.err), 1) << flags << ": " << r.err;
    EXPECT_TRUE(has(r.err, needle)) << flags << ": " << r.err;
  }
}

TEST(CliGpu, ChatTakesTheFlagsToo) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = tandem::testing::run_tandem(
      "chat -m '" + stories() + "' --chat-template chatml -n 4 --temp 0 --gpu-mem 512M --gpu-layers 2", "Hello\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "on the GPU: output head + layers 3-4 (2 of 5 layers)")) << r.err;
  expect_device_line_once(r.err);
}

TEST(CliGpu, InspectPlanPrintsThePlanForAContextAndBudget) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run("inspect '" + stories() + "' --plan --gpu-mem 16G -c 1024 --kv-type f32");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "GPU memory plan for llama: 5 layers, context 1024 x 1 sequence, KV f32")) << r.out;
  EXPECT_TRUE(has(r.out, "blk.0-4 KV cache")) << r.out;
  EXPECT_TRUE(has(r.out, "tensors of blk.4:")) << r.out;
  EXPECT_FALSE(has(r.out, "general.architecture")) << "--plan prints the plan, not the metadata";

  const Ran none = run("inspect '" + stories() + "' --plan");
  ASSERT_EQ(none.code, 0) << none.err;
  if (has(none.err, "no CUDA device")) {
    EXPECT_TRUE(has(none.out, "budget: none (a full offload)")) << none.out;
    EXPECT_TRUE(has(none.out, "GPU budget from no CUDA device and no --gpu-mem")) << none.out;
  }
}

}  // namespace
