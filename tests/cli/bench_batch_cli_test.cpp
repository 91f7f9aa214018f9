// `tandem bench --batch`: each generation test runs once per batch size, N sequences
// decoding together; rows say their batch size (JSON "n_seq", the table's "batch").
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_tandem.h"

namespace {

using tandem::testing::Ran;
using tandem::testing::run_tandem;
using tandem::testing::shq;

constexpr const char* kModel = "models/synthetic/tiny-llama-spm512-q4_0.gguf";

TEST(CliBenchBatch, JsonRowPerBatchSize) {
  const std::string model = tandem::testing::test_data_path(kModel);
  TANDEM_REQUIRE_DATA(model);
  Ran r = run_tandem("bench -m " + shq(model) + " -t 2 -p 8 -n 6 --batch 1,3 -r 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 3u);  // pp8 (one sequence), tg6 at batch 1 and at batch 3
  EXPECT_EQ(rows[0]["test"], "pp8");
  EXPECT_EQ(rows[0]["n_seq"], 1);
  for (size_t i : {1u, 2u}) {
    EXPECT_EQ(rows[i]["test"], "tg6");
    EXPECT_EQ(rows[i]["n_gen"], 6);
    EXPECT_EQ(rows[i]["samples_ts"].size(), 2u);
    EXPECT_GT(rows[i]["avg_ts"].get<double>(), 0);
    EXPECT_GT(rows[i]["roofline_fraction"].get<double>(), 0);
  }
  EXPECT_EQ(rows[1]["n_seq"], 1);
  EXPECT_EQ(rows[2]["n_seq"], 3);
  // A step of 3 sequences reads the weights once: its roofline is 3 times one token's.
  EXPECT_DOUBLE_EQ(rows[2]["roofline_ts"].get<double>(), 3 * rows[1]["roofline_ts"].get<double>());
}

TEST(CliBenchBatch, TableShowsBatchAndProfileNamesIt) {
  const std::string model = tandem::testing::test_data_path(kModel);
  TANDEM_REQUIRE_DATA(model);
  Ran r = run_tandem("bench -m " + shq(model) + " -t 2 -p 0 -n 4 --batch 2 -r 1 --profile");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("| batch |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|     2 |      tg4 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("profile of tg4, batch 2: 4 decode steps"), std::string::npos) << r.out;
}

TEST(CliBenchBatch, RejectsNonPositiveBatch) {
  const std::string model = tandem::testing::test_data_path(kModel);
  TANDEM_REQUIRE_DATA(model);
  Ran r = run_tandem("bench -m " + shq(model) + " -p 0 -n 4 --batch 2,0");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.err.find("--batch"), std::string::npos) << r.err;
}

}  // namespace
