// A GPU that cannot run the model (its backend refuses it as unsupported), shown with
// the emulated GPU made to refuse (TANDEM_GPU_EMULATE_REFUSE): run, chat and bench fall
// back to the CPU with one line saying why and give the CPU's output; with an explicit
// --gpu-layers N > 0 the refusal is the error.
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

constexpr const char* kWhy = "no kernel for this test";
const std::string kFallback =
    std::string("tandem: the emulated GPU cannot run this model (") + kWhy + "); running on the CPU\n";

// `tandem ARGS` with the emulated GPU refusing every model.
Ran run_refused(const std::string& args, const std::string& input = "") {
  setenv("TANDEM_GPU_EMULATE", "1", 1);
  setenv("TANDEM_GPU_EMULATE_REFUSE", kWhy, 1);
  const Ran r = run_tandem(args, input);
  unsetenv("TANDEM_GPU_EMULATE_REFUSE");
  unsetenv("TANDEM_GPU_EMULATE");
  return r;
}

TEST(CliGpuFallback, RunFallsBackToTheCpuAndSaysSoOnce) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "run -m " + shq(stories()) + " -p 'Once upon a time' -n 24 --temp 0 -t 2";
  const Ran cpu = run_tandem(base);
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  ASSERT_GT(cpu.out.size(), 30u) << cpu.out;
  for (const std::string flags : {"", "--gpu-layers auto", "--gpu-mem 99M"}) {
    SCOPED_TRACE(flags);
    const Ran r = run_refused(base + " " + flags);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, cpu.out);
    EXPECT_TRUE(has(r.err, kFallback)) << r.err;
    EXPECT_EQ(r.err.find("cannot run this model"), r.err.rfind("cannot run this model")) << "said more than once:\n"
                                                                                         << r.err;
    EXPECT_LT(r.err.find("GPU memory plan"), r.err.find(kFallback)) << "the plan comes first";
  }
}

TEST(CliGpuFallback, ExplicitGpuLayersMakeTheRefusalAnError) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run_refused("run -m " + shq(stories()) + " -p 'Once upon a time' -n 8 --temp 0 -t 2 --gpu-layers 3");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, std::string("tandem: error: emulated GPU (host memory, reference kernels) cannot run this "
                                     "model: ") + kWhy + "\n"))
      << r.err;
  EXPECT_FALSE(has(r.err, "running on the CPU")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliGpuFallback, BenchReportsNoGpuLayersAfterTheFallback) {
  TANDEM_REQUIRE_DATA(stories());
  const Ran r = run_refused("bench -m " + shq(stories()) + " -t 2 -p 8 -n 4 -r 1 --json --gpu-layers auto");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, kFallback)) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["n_gpu_layers"], 0);
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
  }
}

TEST(CliGpuFallback, ChatFallsBackToTheCpu) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string base = "chat -m " + shq(stories()) + " --chat-template chatml -n 6 --temp 0 -t 2";
  const Ran cpu = run_tandem(base, "Hello\nOnce upon a time\n");
  ASSERT_EQ(cpu.code, 0) << cpu.err;
  const Ran r = run_refused(base, "Hello\nOnce upon a time\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.err, kFallback)) << r.err;
  EXPECT_EQ(r.out, cpu.out);
}

}  // namespace
