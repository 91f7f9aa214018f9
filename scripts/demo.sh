#!/usr/bin/env bash
# Fresh machine to first tokens: installs the dependencies, builds, and generates a
# continuation on the default model (../shared/models/stories260K.gguf when present,
# else a small synthetic model written by `tandem make-model`).
#   scripts/demo.sh [PROMPT]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prompt=${1:-Once upon a time}
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
tandem=$root/build/src/cli/tandem
model=${TANDEM_TEST_DATA:-$root/../shared}/models/stories260K.gguf
if [ ! -f "$model" ]; then
  model=$root/build/tiny-q8_0.gguf
  [ -f "$model" ] || "$tandem" make-model --preset tiny --type q8_0 -o "$model"
fi
echo "== tandem run -m $model -p \"$prompt\" -n 64"
"$tandem" run -m "$model" -p "$prompt" -n 64 --temp 0.8 --seed 42
