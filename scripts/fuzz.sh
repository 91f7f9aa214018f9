#!/usr/bin/env bash
# Fuzzes the GGUF parser: builds fuzz/ with clang (libFuzzer + ASan + UBSan) and runs
# it for SECONDS (default 60) from a seed corpus made of the shared GGUF files: small
# valid copies of each (every key, every tensor cut to one row) and truncated heads of
# each. Prints the executions count; exits non-zero if the fuzzer finds a crash (the
# input is kept under $BUILD/artifacts/).
#   scripts/fuzz.sh [SECONDS]
# Environment: TANDEM_FUZZ_BUILD (build dir, default build-fuzz), TANDEM_TEST_DATA
# (default ../shared), TANDEM_FUZZ_MAX_LEN (default 131072).
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TANDEM_FUZZ_BUILD:-$root/build-fuzz}
data=${TANDEM_TEST_DATA:-$root/../shared}
max_len=${TANDEM_FUZZ_MAX_LEN:-131072}

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh installs it)" >&2; exit 2; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root/fuzz" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "${TANDEM_FUZZ_JOBS:-2}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seeds=$work/seeds corpus=$work/corpus
mkdir -p "$seeds" "$corpus" "$build/artifacts"

n_seeds=0
while IFS= read -r -d '' f; do
  name=$(basename "$f" .gguf)
  size=$(stat -c %s "$f")
  if [ "$size" -le "$max_len" ]; then
    cp "$f" "$seeds/$name.gguf"
  else
    head -c "$max_len" "$f" > "$seeds/$name.head.gguf"
  fi
  head -c 4096 "$f" > "$seeds/$name.head4k.gguf"
  "$build/gguf_seed" "$f" "$seeds/$name.small.gguf" || echo "fuzz.sh: no small copy of $f" >&2
  n_seeds=$((n_seeds + 1))
done < <(find "$data/models" -name '*.gguf' -print0 2>/dev/null)
[ "$n_seeds" -gt 0 ] || echo "fuzz.sh: no GGUF files under $data/models; fuzzing from an empty corpus" >&2
echo "fuzz.sh: $(ls "$seeds" | wc -l) seeds from $n_seeds files, ${seconds}s, max_len $max_len"

log=$work/fuzz.log
set +e
"$build/gguf_fuzz" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  "$corpus" "$seeds" 2>&1 | tee "$log" | grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE))|ERROR|SUMMARY|==[0-9]+=='
rc=${PIPESTATUS[0]}
set -e

execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
echo "fuzz.sh: $execs executions in ${seconds}s, exit code $rc"
if [ "$rc" -ne 0 ]; then
  echo "fuzz.sh: the fuzzer found a problem; inputs in $build/artifacts/" >&2
  tail -n 60 "$log" >&2
fi
exit "$rc"
