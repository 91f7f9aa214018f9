#!/usr/bin/env bash
# Proves the binaries run on a CPU without AVX-512: runs the CPU kernel tests and the
# end-to-end golden tests under qemu's Haswell model (AVX2, FMA, F16C; no AVX-512).
#   scripts/test-haswell.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}
command -v qemu-x86_64 >/dev/null || { echo "test-haswell.sh: qemu-x86_64 missing (scripts/setup.sh installs qemu-user)" >&2; exit 2; }
run() { echo "== qemu-x86_64 -cpu Haswell $*"; qemu-x86_64 -cpu Haswell "$@"; }
run "$build/tests/tandem_cpu_tests" --gtest_brief=1
run "$build/tests/tandem_engine_tests" --gtest_brief=1 --gtest_filter='Models/Golden.*:Models/KnownAnswers.*'
