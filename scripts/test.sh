#!/usr/bin/env bash
# Fresh machine to test results: installs the dependencies, builds, runs every test
# (ctest), then fuzzes the GGUF parser for TANDEM_FUZZ_SECONDS (default 60).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
(cd "$root/build" && ctest --output-on-failure -j "$(nproc)")
"$root/scripts/fuzz.sh" "${TANDEM_FUZZ_SECONDS:-60}"
