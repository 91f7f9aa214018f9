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
#                                    runs the GPU tests, makes a synthetic Llama-3.1-8B
#                                    Q4_0 model and runs `tandem bench` on it (full
#                                    offload, 16 of 32 layers, 64 sequences, decode
#                                    without CUDA graphs), and writes
#                                    results under $OUT (see remote() for the time).
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

# The remote step, in the device call's 600 seconds (expected on a 16-core H100 host):
#   unpack + configure                                   ~25 s
#   build tandem (critical path: the AVX-512 K-quant kernels)          ~90-150 s
#   make-model llama3.1-8b q4_0 (4.4 GiB), in the background from here ~30-150 s
#   build libtandem_cuda.so + the GPU test programs (sm_90)            ~60-120 s
#   GPU tests: gpu_host, gpu (kernels), gpu_engine (executor)          ~60-90 s
#   tandem bench on the 8B model, -r 2 each (model load, probes, plan upload included):
#     full offload pp512 + tg128 ~30 s; --gpu-layers 16 ~60 s; --batch 64 tg128 ~30 s;
#     tg128 without CUDA graphs ~15 s
# about 400-550 s in all. Each part runs under `timeout`, and a bench is skipped when
# less time is left than it needs (TANDEM_GPU_DEADLINE, default 570 s from the start).
# TANDEM_GPU_FULL=1 builds everything (kernel benchmarks included) and runs all of ctest
# too: only when the call has the time to spare.
remote() {
  local start=$SECONDS
  local out=${OUT:-$root/out}
  local deps=${TANDEM_DEPS_PREFIX:-/opt/deps}
  local build=${TANDEM_GPU_BUILD_DIR:-$root/build-gpu-machine}
  local archs=${TANDEM_CUDA_ARCHS:-90}
  local deadline=${TANDEM_GPU_DEADLINE:-570}
  local full=${TANDEM_GPU_FULL:-0}
  local model=${TANDEM_BENCH_MODEL:-$root/gpu-bench/llama3.1-8b-q4_0.gguf}
  local jobs
  jobs=$(nproc)
  mkdir -p "$out"
  # What comes back from $OUT: at most 8 files; these are the ones.
  local summary=$out/summary.txt
  : >"$summary"
  note() { echo "[$((SECONDS - start)) s] $*" | tee -a "$summary"; }
  left() { echo $((deadline - (SECONDS - start))); }

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

  local bench_kernels=OFF
  [ "$full" = 1 ] && bench_kernels=ON
  note "== configure ($build, CUDA architectures $archs)"
  if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA_ARCHS="$archs" \
      -DTANDEM_BUILD_BENCH=$bench_kernels -DTANDEM_TEST_DATA_DEFAULT="$root/gpu-data" "${pkgconfig[@]}" \
      >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"; note "configure failed (build.log)"; exit 1
  fi
  note "== build tandem (-j$jobs)"
  if ! cmake --build "$build" -j "$jobs" --target tandem >>"$out/build.log" 2>&1; then
    grep -E "error|FAILED" "$out/build.log" | head -40; note "build failed (build.log)"; exit 1
  fi
  local tandem=$build/src/cli/tandem

  # The benchmark model, made while the rest builds and the tests run.
  local make_pid=""
  if [ ! -f "$model" ]; then
    mkdir -p "$(dirname "$model")"
    note "== make-model llama3.1-8b q4_0 -> $model (background)"
    (timeout 400 "$tandem" make-model --preset llama3.1-8b --type q4_0 -o "$model.part" -t $((jobs / 2)) &&
       mv "$model.part" "$model") >"$out/bench.log" 2>&1 &
    make_pid=$!
  fi

  note "== build libtandem_cuda.so and the GPU tests"
  local targets=(tandem_cuda tandem_gpu_host_tests tandem_gpu_tests tandem_gpu_engine_tests)
  [ "$full" = 1 ] && targets=(all)
  if ! cmake --build "$build" -j "$jobs" --target "${targets[@]}" >>"$out/build.log" 2>&1; then
    grep -E "error|FAILED" "$out/build.log" | head -40; note "build failed (build.log)"; exit 1
  fi

  note "== GPU tests"
  local rc_tests=0 t rc
  : >"$out/gpu_tests.log"
  for t in tandem_gpu_host_tests tandem_gpu_tests tandem_gpu_engine_tests; do
    rc=0
    echo "===== $t" >>"$out/gpu_tests.log"
    timeout 150 "$build/tests/$t" >>"$out/gpu_tests.log" 2>&1 || rc=$?
    note "$t exit $rc"
    [ "$rc" -eq 0 ] || rc_tests=$rc
  done
  grep -E "^\[ (device|cuda)|^\[  (PASSED|FAILED|SKIPPED) \]|tests? ran|Failure$" "$out/gpu_tests.log" |
    head -80 | tee -a "$summary" || true

  if [ "$full" = 1 ]; then
    note "== ctest (every test)"
    local rc_ctest=0
    (cd "$build" && timeout "$(( $(left) > 60 ? $(left) - 60 : 1 ))" ctest --output-on-failure -j "$jobs" --timeout 240) \
      >"$out/ctest.log" 2>&1 || rc_ctest=$?
    tail -25 "$out/ctest.log" | tee -a "$summary"
    note "ctest exit $rc_ctest"
    [ "$rc_ctest" -eq 0 ] || rc_tests=$rc_ctest
  fi

  note "== tandem bench on the 8B Q4_0 model"
  if [ -n "$make_pid" ]; then
    wait "$make_pid" || note "make-model failed or ran out of time (bench.log)"
  fi
  local json=$out/bench.json
  if [ -f "$model" ]; then
    # name, seconds it needs, environment (- for none), flags
    local runs=("full_offload 60 - --gpu-layers 32 -p 512 -n 128"
                "gpu_layers_16 120 - --gpu-layers 16 -p 512 -n 128"
                "batch_64 60 - --gpu-layers 32 --batch 64 -p 0 -n 128"
                "full_offload_no_graphs 30 TANDEM_CUDA_GRAPHS=0 --gpu-layers 32 -p 0 -n 128")
    local r name need envs flags sep=""
    echo "{" >"$json"
    for r in "${runs[@]}"; do
      read -r name need envs flags <<<"$r"
      [ "$envs" = "-" ] && envs=""
      if [ "$(left)" -lt "$need" ]; then
        note "bench $name skipped: $(left) s left, it needs about $need"
        continue
      fi
      echo "----- bench $name: $envs $flags" >>"$out/bench.log"
      local res
      # shellcheck disable=SC2086  # envs and flags are words
      if res=$(env $envs timeout "$(left)" "$tandem" bench -m "$model" $flags -r 2 --json 2>>"$out/bench.log"); then
        printf '%s"%s": %s\n' "$sep" "$name" "$res" >>"$json"
        sep=","
        note "bench $name: $(echo "$res" | grep -oE '"(test|avg_ts)": [^,]*' | paste -sd ' ' -)"
      else
        note "bench $name failed (bench.log)"
        rc_tests=1
      fi
    done
    echo "}" >>"$json"
  else
    note "no benchmark model at $model"
    rc_tests=1
  fi
  note "== done"
  [ "$rc_tests" -eq 0 ]
}

case "${1:-}" in
  prepare) prepare ;;
  remote) remote ;;
  *)
    echo "usage: $0 prepare|remote" >&2
    exit 2
    ;;
esac
