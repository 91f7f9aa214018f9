// `--kv-type q8_0` from the command line: a model whose head_dim is a multiple of 32
// generates with it; one whose head_dim is not (stories260K: 8) fails with one clear
// line naming head_dim; types that are not KV types are refused by the flag parser.

#include <string>

#include <gtest/gtest.h>

#include "run_tandem.h"
#include "test_data.h"

namespace {

using tandem::testing::Ran;

Ran run(const std::string& args) { return tandem::testing::run_tandem(args); }

TEST(CliKvType, Q8_0RunsAModelWithHeadDim64) {
  const std::string model = tandem::testing::test_data_path("models/synthetic/tiny-llama-spm512-f16.gguf");
  TANDEM_REQUIRE_DATA(model);
  const Ran r = run("run -m '" + model + "' -p 'Hello world' -n 16 --temp 0 --ignore-eos --kv-type q8_0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty()) << r.err;
}

TEST(CliKvType, Q8_0WithHeadDim8IsAOneLineError) {
  const std::string model = tandem::testing::test_data_path("models/stories260K.gguf");
  TANDEM_REQUIRE_DATA(model);
  const Ran r = run("run -m '" + model + "' -p hi -n 4 --kv-type q8_0");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal: " << r.err;
  EXPECT_NE(r.err.find("head_dim 8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q8_0"), std::string::npos) << r.err;
}

TEST(CliKvType, OtherQuantTypesAreNotKvTypes) {
  const Ran r = run("run -m x -p hi --kv-type q4_0");
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << r.err;
  EXPECT_NE(r.err.find("q4_0"), std::string::npos) << r.err;
}

}  // namespace
