#!/usr/bin/env bash
# Builds and tests Tandem on a lent GPU machine (Ubuntu 24.04 with CUDA, CMake and
# ninja, but none of our Debian libraries, and no network).
#
#   scripts/gpu-machine.sh prepare   HERE: downloads our Debian 12 packages into .deps/
#                                    and copies the test data into gpu-data/ (both
#                                    git-ignored), then prints the device call to make.
#   scripts/gpu-machine.sh remote    THERE (from the repository root, with .deps and
#                                    gpu-data carried): unpacks the packages into
#                                    /opt/deps, builds for sm_90 (TANDEM_CUDA_ARCHS),
#                                    runs ctest (GPU tests included) and the benchmarks,
#                                    and writes results under $OUT.
#
# The device call (its command may be at most 2000 characters):
#   run(command="bash scripts/gpu-machine.sh remote", carry=[".deps", "gpu-data"], timeout_s=600)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages the build, the tests and the benchmarks link or include, with the
# runtime libraries they depend on (the GPU machine has glibc, libstdc++ and libudev).
packages=(
  libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
  libhwloc-dev libhwloc15 libnuma-dev libnuma1
  liburing-dev liburing2
  libeigen3-dev
  libdnnl-dev libdnnl2 ocl-icd-libopencl1 libgomp1
  libxxhash-dev libxxhash0
  pkgconf pkgconf-bin libpkgconf3   # pkg-config, in case the image has none
)

# What one device call may carry (the working tree included).
max_carry_bytes=$((60 * 1024 * 1024))

prepare() {
  local deps=$root/.deps data=$root/gpu-data
  local shared=${TANDEM_TEST_DATA:-$root/../shared}
  [ -d "$shared/models" ] || { echo "gpu-machine: no test data at $shared/models" >&2; exit 1; }
  if ! apt-cache show --no-all-versions "${packages[0]}" >/dev/null 2>&1; then
    apt-get update -qq
  fi
  rm -rf "$deps"
  mkdir -p "$deps"
  # apt-get download fetches exactly the named packages (no dependencies), one version each.
  (cd "$deps" && apt-get download -qq "${packages[@]}" 2>&1 | grep -v "unsandboxed as root" || true)
  local n
  n=$(find "$deps" -name '*.deb' | wc -l)
  if [ "$n" -ne "${#packages[@]}" ]; then
    echo "gpu-machine: downloaded $n of ${#packages[@]} packages into $deps" >&2
    exit 1
  fi
  rm -rf "$data"
  mkdir -p "$data"
  cp -r "$shared/models" "$shared/golden" "$data/"
  chmod -R u+w "$data"
  local tree
  tree=$(cd "$root" && git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  local total=$(( $(du -sb "$deps" | cut -f1) + $(du -sb "$data" | cut -f1) + tree ))
  echo "gpu-machine: $n packages in .deps ($(du -sh "$deps" | cut -f1)), test data in gpu-data ($(du -sh "$data" | cut -f1))"
  echo "gpu-machine: working tree ${tree} bytes; $total bytes travel in all"
  if [ "$total" -gt "$max_carry_bytes" ]; then
    echo "gpu-machine: that is over the ${max_carry_bytes}-byte limit of a device call" >&2
    exit 1
  fi
  echo 'gpu-machine: now: run(command="bash scripts/gpu-machine.sh remote", carry=[".deps", "gpu-data"])'
}

# Unpacks every .deb of .deps into $1 and points the .pc files there.
unpack_deps() {
  local prefix=$1
  mkdir -p "$prefix"
  local f
  for f in "$root"/.deps/*.deb; do dpkg -x "$f" "$prefix"; done
  # .pc files say prefix=/usr (some spell libdir/includedir out in full): move them.
  find "$prefix" -name '*.pc' -print0 | xargs -0 -r sed -i -e "s|=/usr\$|=$prefix/usr|" -e "s|=/usr/|=$prefix/usr/|g"
}

remote() {
  local out=${OUT:-$root/out}
  local deps=${TANDEM_DEPS_PREFIX:-/opt/deps}
  local build=${TANDEM_GPU_BUILD_DIR:-$root/build-gpu-machine}
  local archs=${TANDEM_CUDA_ARCHS:-90}
  local jobs
  jobs=$(nproc)
  mkdir -p "$out"
  local summary=$out/summary.txt
  : >"$summary"
  note() { echo "$*" | tee -a "$summary"; }

  [ -d "$root/.deps" ] || { note "no .deps/: run 'scripts/gpu-machine.sh prepare' here and carry .deps"; exit 1; }
  unpack_deps "$deps"
  local multiarch=x86_64-linux-gnu
  export CMAKE_PREFIX_PATH=$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export PKG_CONFIG_PATH=$deps/usr/lib/$multiarch/pkgconfig:$deps/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$deps/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PATH=/usr/local/cuda/bin:$PATH
  export TANDEM_TEST_DATA=$root/gpu-data
  local pkgconfig=()
  if ! command -v pkg-config >/dev/null 2>&1; then pkgconfig=(-DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf"); fi

  {
    uname -a
    nvidia-smi || true
    nvcc --version | tail -2
    cmake --version | head -1
    c++ --version | head -1
  } >"$out/machine.txt" 2>&1

  note "== configure ($build, CUDA architectures $archs)"
  if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA_ARCHS="$archs" \
      -DTANDEM_TEST_DATA_DEFAULT="$root/gpu-data" "${pkgconfig[@]}" >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"; note "configure failed (build.log)"; exit 1
  fi
  note "== build (-j$jobs)"
  if ! cmake --build "$build" -j "$jobs" >>"$out/build.log" 2>&1; then
    grep -E "error|FAILED" "$out/build.log" | head -40; note "build failed (build.log)"; exit 1
  fi

  note "== GPU tests"
  local rc_gpu=0
  "$build/tests/tandem_gpu_tests" --gtest_output="xml:$out/gpu_tests.xml" >"$out/gpu_tests.log" 2>&1 || rc_gpu=$?
  grep -E "^\[ device|^\[  (PASSED|FAILED|SKIPPED) \]|tests ran" "$out/gpu_tests.log" | tee -a "$summary" || true
  note "tandem_gpu_tests exit $rc_gpu"

  note "== ctest (every test)"
  local rc_ctest=0
  # Within the device call's 10 minutes: build, GPU tests and benchmarks need the rest.
  (cd "$build" && timeout 300 ctest --output-on-failure -j "$jobs" --timeout 240) >"$out/ctest.log" 2>&1 || rc_ctest=$?
  tail -25 "$out/ctest.log" | tee -a "$summary"
  note "ctest exit $rc_ctest"

  note "== benchmarks"
  {
    echo "-- tandem inspect --plan (the device's budget)"
    "$build/src/cli/tandem" inspect "$root/gpu-data/models/stories260K.gguf" --plan 2>&1 || true
    if [ -x "$build/bench/tandem_bench_kernels" ]; then
      echo "-- tandem_bench_kernels"
      timeout 120 "$build/bench/tandem_bench_kernels" --benchmark_min_time=0.05 2>&1 ||
        echo "tandem_bench_kernels failed or ran out of time: $?"
    fi
  } >"$out/bench.txt" 2>&1
  tail -5 "$out/bench.txt" | tee -a "$summary"
  [ "$rc_gpu" -eq 0 ] && [ "$rc_ctest" -eq 0 ]
}

case "${1:-}" in
  prepare) prepare ;;
  remote) remote ;;
  *)
    echo "usage: $0 prepare|remote" >&2
    exit 2
    ;;
esac
