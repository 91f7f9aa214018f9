#!/usr/bin/env bash
# Tandem against a peer engine's llama-bench on the same GGUF file, in interleaved
# rounds (this machine drifts between rounds, so each round's ratio is taken, then the
# median of the ratios).
#
#   scripts/compare-peers.sh MODEL PEER_LLAMA_BENCH [ROUNDS] [TESTS] [-- PEER_ARGS...]
#     TESTS: comma-separated, e.g. "tg32,pp128,pp512" (default tg32,pp128)
#     PEER_ARGS: extra llama-bench flags, e.g. -rtr 1 for ik_llama.cpp
#   TANDEM_BIN (default build/src/cli/tandem), THREADS (default 2), REPS (default 3).
#
# Prints one line per round and test (t/s of both, ratio) and the median ratio per test.
set -euo pipefail
model=$1; peer=$2; rounds=${3:-5}; tests=${4:-tg32,pp128}
shift $(( $# < 4 ? $# : 4 ))
[[ ${1:-} == -- ]] && shift
peer_args=("$@")
tandem=${TANDEM_BIN:-build/src/cli/tandem}
threads=${THREADS:-2}; reps=${REPS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for t in ${tests//,/ }; do
    n=${t:2}; if [[ $t == tg* ]]; then p_args=(-p 0 -n "$n"); else p_args=(-p "$n" -n 0); fi
    "$tandem" bench -m "$model" -t "$threads" -r "$reps" "${p_args[@]}" --json > "$out/tandem.json"
    "$peer" -m "$model" -t "$threads" -r "$reps" "${p_args[@]}" -o json "${peer_args[@]}" > "$out/peer.json" 2>/dev/null
    python3 - "$out" "$r" "$t" <<'PY' | tee -a "$out/rounds.txt"
import json, sys
d, r, t = sys.argv[1:]
a = json.load(open(d + "/tandem.json"))[0]["avg_ts"]
b = json.load(open(d + "/peer.json"))[0]["avg_ts"]
print(f"round {r} {t}: tandem {a:.2f} t/s, peer {b:.2f} t/s, ratio {a / b:.3f}")
PY
  done
done
python3 - "$out/rounds.txt" <<'PY'
import statistics, sys
ratios = {}
for line in open(sys.argv[1]):
    t = line.split()[2].rstrip(":")
    ratios.setdefault(t, []).append(float(line.split()[-1]))
for t, v in ratios.items():
    print(f"{t}: median ratio tandem/peer {statistics.median(v):.3f} over {len(v)} rounds (min {min(v):.3f}, max {max(v):.3f})")
PY
