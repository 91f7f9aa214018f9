#!/usr/bin/env bash
# Fresh machine to test results: installs the dependencies, builds, fuzzes the GGUF
# parser for TANDEM_FUZZ_SECONDS (default 60), runs the CPU and golden tests as a
# Haswell CPU (no AVX-512) under qemu, and finally every test with ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
"$root/scripts/fuzz.sh" "${TANDEM_FUZZ_SECONDS:-60}"
"$root/scripts/test-haswell.sh" "$root/build"
cd "$root/build" && ctest --output-on-failure -j "$(nproc)"
