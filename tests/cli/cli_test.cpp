// Runs the `tandem` binary as a user would and checks stdout, stderr and exit codes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_tandem.h"
#include "test_data.h"

namespace {

using tandem::testing::Ran;
using tandem::testing::shq;

std::string temp_path(const std::string& name) { return tandem::testing::cli_temp_path(name); }

Ran run(const std::string& args, const std::string& input = "") { return tandem::testing::run_tandem(args, input); }

std::string stories() { return tandem::testing::test_data_path("models/stories260K.gguf"); }

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, RunGreedyMatchesGoldenBytes) {
  TANDEM_REQUIRE_DATA(stories());
  const auto g = nlohmann::json::parse(tandem::testing::read_file(tandem::testing::test_data_path("golden/stories260K.json")));
  for (const auto& p : g["prompts"]) {
    Ran r = run("run -m " + shq(stories()) + " -p " + shq(p["text"]) + " -n 32 --temp 0 --ignore-eos --kv-type f32");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, p["greedy"]["text"].get<std::string>()) << "prompt " << p["text"];
    EXPECT_NE(r.err.find("generated 32 tokens"), std::string::npos) << r.err;
  }
}

TEST(Cli, RunIsReproducibleWithASeed) {
  TANDEM_REQUIRE_DATA(stories());
  const std::string args = "run -m " + shq(stories()) + " -p 'The little dog' -n 24 --temp 1 --seed 7";
  Ran a = run(args), b = run(args), c = run("run -m " + shq(stories()) + " -p 'The little dog' -n 24 --temp 1 --seed 8");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST(Cli, EmptyPromptMeansBosAlone) {
  TANDEM_REQUIRE_DATA(stories());
  Ran r = run("run -m " + shq(stories()) + " -p '' -n 8 --temp 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST(Cli, TokenizePrintsIdsWithBos) {
  TANDEM_REQUIRE_DATA(stories());
  Ran r = run("tokenize -m " + shq(stories()) + " -p 'Once upon a time'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto g = nlohmann::json::parse(tandem::testing::read_file(tandem::testing::test_data_path("golden/stories260K.json")));
  std::string want;
  for (int id : g["prompts"][0]["tokens"]) want += (want.empty() ? "" : " ") + std::to_string(id);
  EXPECT_EQ(r.out, want + "\n");
}

TEST(Cli, PerplexityLastLine) {
  const std::string model = tandem::testing::test_data_path("models/synthetic/tiny-llama-spm512-q4_1.gguf");
  TANDEM_REQUIRE_DATA(model);
  Ran r = run("perplexity -m " + shq(model) + " -f " + shq(tandem::testing::test_data_path("golden/ppl-public.txt")) +
              " -c 128 --kv-type f32");
  ASSERT_EQ(r.code, 0) << r.err;
  const size_t at = r.out.rfind("PPL = ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\n', at), r.out.size() - 1) << "PPL must be the last line";
  EXPECT_NEAR(std::stod(r.out.substr(at + 6)), 1823.4723, 1823.4723 * 3e-3);  // llama.cpp's value
}

TEST(Cli, InspectSaysSupported) {
  TANDEM_REQUIRE_DATA(stories());
  Ran r = run("inspect " + shq(stories()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("general.architecture"), std::string::npos);
  EXPECT_NE(r.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(r.out.find("support: yes: llama, 5 layers"), std::string::npos) << r.out;
}

TEST(Cli, ChatWorksFromAPipe) {
  TANDEM_REQUIRE_DATA(stories());
  Ran r = run("chat -m " + shq(stories()) + " --chat-template chatml -n 8 --temp 0", "Hello\nTell me a story\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 2) << r.out;  // one answer line per turn
}

// stderr less the one-line note run and chat print first on a machine with no GPU.
std::string without_cpu_note(const std::string& err) {
  const std::string note = "tandem: no CUDA device (";
  if (err.rfind(note, 0) != 0) return err;
  const size_t eol = err.find('\n');
  return eol == std::string::npos ? std::string() : err.substr(eol + 1);
}

// Bad input: one clear line on stderr, a non-zero exit, never a crash.
void expect_clean_failure(const Ran& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.code, 128) << "killed by a signal: " << r.err;
  EXPECT_EQ(count_lines(without_cpu_note(r.err)), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(Cli, BadInputFailsCleanly) {
  expect_clean_failure(run("run -m /no/such/model.gguf -p hi"), "/no/such/model.gguf");
  const std::string junk = temp_path("junk.gguf");
  std::ofstream(junk, std::ios::binary) << "GGUF\x03\x00\x00\x00garbage";
  expect_clean_failure(run("run -m " + shq(junk) + " -p hi"), junk);
  std::remove(junk.c_str());
  expect_clean_failure(run("run -m x --no-such-flag"), "no-such-flag");
  expect_clean_failure(run("frobnicate"), "frobnicate");
  if (!tandem::testing::file_exists(stories())) return;
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "once upon a time ";
  expect_clean_failure(run("run -m " + shq(stories()) + " -c 16 -p " + shq(long_prompt)), "context");
  expect_clean_failure(run("run -m " + shq(stories()) + " -p 'bad \xff utf8'"), "UTF-8");
  expect_clean_failure(run("run -m " + shq(stories()) + " -p hi --top-p 2"), "top-p");
}

}  // namespace

namespace {

// Ctrl-C during an answer stops that answer; the program goes on to the next turn.
TEST(Cli, ChatCtrlCStopsTheAnswerNotTheProgram) {
  const std::string model = tandem::testing::test_data_path("models/synthetic/tiny-qwen2-bpe4k-f16.gguf");
  TANDEM_REQUIRE_DATA(model);
  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl(TANDEM_BIN, TANDEM_BIN, "chat", "-m", model.c_str(), "--chat-template", "chatml", "-n", "1500",
          "--temp", "1", "--seed", "1", "-c", "4096", "--ignore-eos", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  const std::string first = "Hello there\n";
  ASSERT_EQ(write(in[1], first.data(), first.size()), static_cast<ssize_t>(first.size()));
  // Wait until the answer is streaming, then interrupt it.
  char buf[4096];
  ssize_t got = read(out[0], buf, sizeof(buf));
  ASSERT_GT(got, 0);
  kill(pid, SIGINT);
  const std::string second = "Again\n";
  ASSERT_EQ(write(in[1], second.data(), second.size()), static_cast<ssize_t>(second.size()));
  close(in[1]);  // end of input: the program ends after the second answer
  std::string rest;
  while ((got = read(out[0], buf, sizeof(buf))) > 0) rest.append(buf, static_cast<size_t>(got));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(rest.empty());
}

}  // namespace

namespace {

TEST(Cli, BenchJsonHasLlamaBenchFields) {
  const std::string model = tandem::testing::test_data_path("models/synthetic/tiny-llama-spm512-q4_0.gguf");
  TANDEM_REQUIRE_DATA(model);
  Ran r = run("bench -m " + shq(model) + " -p 16 -n 8,0 -r 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);  // -n 0 is skipped
  EXPECT_EQ(rows[0]["test"], "pp16");
  EXPECT_EQ(rows[0]["n_prompt"], 16);
  EXPECT_EQ(rows[1]["test"], "tg8");
  EXPECT_EQ(rows[1]["n_gen"], 8);
  for (const auto& row : rows) {
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
    EXPECT_GE(row["stddev_ts"].get<double>(), 0);
    EXPECT_EQ(row["samples_ts"].size(), 2u);
    EXPECT_GT(row["n_threads"].get<int>(), 0);
  }
  EXPECT_GT(rows[1]["roofline_fraction"].get<double>(), 0);
}

}  // namespace
