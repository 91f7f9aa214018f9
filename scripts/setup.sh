#!/usr/bin/env bash
# Installs the Debian packages Tandem needs to build, test and benchmark.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev   # libFuzzer (its runtime is only "recommended" by clang)
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev           # kernel benchmarks
  libtbb-dev                 # CPU thread arena
  libdnnl-dev                # prefill GEMM (oneDNN)
  liburing-dev               # NVMe page store
  libhwloc-dev               # topology, pinning
  libeigen3-dev              # cost-model fits
  libcli11-dev               # command line
  nlohmann-json3-dev         # JSON / JSONL
  libpcre2-dev               # BPE pre-tokenizer regexes
  libxxhash-dev              # prefix block hashes
  qemu-user                  # runs the tests as a CPU without AVX-512 (Haswell)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root, or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
