#!/usr/bin/env bash
# The CPU benchmarks in one command, each figure against the limit measured in the same
# run (read bandwidth for GEMV and generation, the int8 VNNI peak for GEMM and prompt
# processing):
#   scripts/bench.sh [MODEL.gguf] [OUT_DIR]
# MODEL defaults to the synthetic Llama-3.1-8B Q4_0 file $TANDEM_BENCH_MODEL or
# OUT_DIR/llama3.1-8b-q4_0.gguf, made with `tandem make-model` when missing (about
# 4.3 GiB, a few minutes). THREADS (default: all cores) and REPS (default 3) apply to
# `tandem bench`. OUT_DIR (default build/bench-results) receives kernels.json,
# gemm.json, tandem-bench.json and the printed tables in bench.log.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TANDEM_BUILD_DIR:-$root/build}
out=${2:-$build/bench-results}
mkdir -p "$out"
"$root/scripts/build.sh" -DTANDEM_BUILD_BENCH=ON >/dev/null
tandem="$build/src/cli/tandem"
model=${1:-${TANDEM_BENCH_MODEL:-$out/llama3.1-8b-q4_0.gguf}}
if [[ ! -f $model ]]; then
  echo "== making $model (tandem make-model --preset llama3.1-8b --type q4_0)"
  "$tandem" make-model --preset llama3.1-8b --type q4_0 -o "$model"
fi
threads=${THREADS:-$(nproc)}
reps=${REPS:-3}
{
  echo "== GEMV per type and layout, 1 and $threads threads, vs the read bandwidth"
  "$build/bench/tandem_bench_kernels" --benchmark_filter='Gemv(Hot)?/(q4_0|q5_0|q8_0|q2_K|q3_K|q4_K|q5_K|q6_K)/[0-9x]+/(avx2|avx512|avxvnni)' \
    --benchmark_out="$out/kernels.json" --benchmark_out_format=json
  echo "== prefill GEMM: packed int8 kernels vs oneDNN, vs the int8 peak"
  "$build/bench/tandem_bench_gemm" --benchmark_out="$out/gemm.json" --benchmark_out_format=json
  echo "== tandem bench: pp128, pp512, tg32 on $(basename "$model"), $threads threads"
  "$tandem" bench -m "$model" -p 128,512 -n 32 -r "$reps" --threads "$threads" --profile
  "$tandem" bench -m "$model" -p 128,512 -n 32 -r "$reps" --threads "$threads" --profile --json >"$out/tandem-bench.json"
} 2>&1 | tee "$out/bench.log"
echo "results: $out"
