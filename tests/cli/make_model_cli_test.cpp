// `tandem make-model` as a user runs it: the summary, a model that `tandem run` then
// uses, and one-line errors with exit code 1 for bad input.

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "run_tandem.h"
#include "test_data.h"

namespace {

using tandem::testing::Ran;

std::string temp_path(const std::string& name) { return tandem::testing::cli_temp_path("mk_" + name); }

Ran run(const std::string& args) { return tandem::testing::run_tandem(args); }

TEST(CliMakeModel, WritesAModelThatRunLoads) {
  const std::string model = temp_path("tiny.gguf");
  Ran r = run("make-model --preset tiny --type q4_k_m --seed 3 -t 2 -o " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("tiny, q4_k_m (general.file_type 15), seed 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20 tensors: 5 f32 12 q4_K 3 q6_K"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vocab: 512 tokens (made-up SPM vocab)"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // no progress line when stderr is not a terminal

  Ran g = run("run -m " + model + " -p 'Hello world' -n 4 --temp 0 --ignore-eos");
  EXPECT_EQ(g.code, 0) << g.err;
  EXPECT_NE(g.err.find("generated 4 tokens"), std::string::npos) << g.err;
  std::filesystem::remove(model);
}

TEST(CliMakeModel, BadInputIsAOneLineError) {
  const std::string model = temp_path("bad.gguf");
  Ran r = run("make-model --preset tiny --type q3_k -o " + model);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("tandem: error: unknown weight type 'q3_k'", 0), 0u) << r.err;
  EXPECT_FALSE(std::filesystem::exists(model));

  r = run("make-model --preset tiny -o /nonexistent-dir/m.gguf");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/m.gguf: cannot open for writing"), std::string::npos) << r.err;

  r = run("make-model --preset tiny -o " + model + " --vocab a.gguf --tiktoken b.model");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;

  r = run("make-model --preset gpt-9 -o " + model);
  EXPECT_EQ(r.code, 2);  // rejected by the flag parser
  EXPECT_NE(r.err.find("gpt-9"), std::string::npos) << r.err;
}

}  // namespace
