// Runs the `tandem` binary (TANDEM_BIN) through the shell, as a user would, for the CLI
// tests: exit code, stdout and stderr captured through temporary files, removed after.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "test_data.h"

namespace tandem::testing {

struct Ran {
  int code = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// "<test tmp dir>tandem_cli_<pid>_<name>": unique to this test process.
inline std::string cli_temp_path(const std::string& name) {
  return ::testing::TempDir() + "tandem_cli_" + std::to_string(getpid()) + "_" + name;
}

// `tandem ARGS` with `input` on stdin (empty: an empty stdin).
inline Ran run_tandem(const std::string& args, const std::string& input = "") {
  const std::string in = cli_temp_path("stdin"), out = cli_temp_path("stdout"), err = cli_temp_path("stderr");
  std::ofstream(in, std::ios::binary) << input;
  const std::string cmd = std::string(TANDEM_BIN) + " " + args + " <" + in + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  Ran r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  for (const std::string& p : {in, out, err}) std::remove(p.c_str());
  return r;
}

// s quoted for the shell.
inline std::string shq(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace tandem::testing
