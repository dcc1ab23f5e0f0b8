#!/usr/bin/env bash
# The README's first command: installs what lil needs (Debian 12, as root), builds, and runs lil's main job
# on the embedded default on CPU.
# For now the embedded default is the parity test fixture (a random-initialised Qwen2-architecture model
# with the real Qwen tokenizer, tests/fixtures/models/tiny-qwen2): its text is gibberish, but the run shows
# the whole path -- checkpoint loading, exact tokenization, prefill, decode under a sparse policy, timings.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
. "$root/scripts/env.sh"
lil="${BUILD_DIR:-$root/build}/lil"
model="$root/tests/fixtures/models/tiny-qwen2"
echo "[lil] embedded default: test fixture $model (random weights; the shipped reasoning model comes later)"
"$lil" --version
for policy in "full" "sink --budget 64"; do
  echo "[lil] lil generate --policy $policy"
  # shellcheck disable=SC2086
  "$lil" generate --model "$model" --prompt "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?" \
    --max-new-tokens 48 --ignore-eos --policy $policy
done
# The main job, end to end on the same fixture: a sweep (full vs sink/h2o/quest, with and without Guardian,
# length cap from full attention), then the paper-style table and plots. Re-running resumes (no new work).
out="$root/results/quickstart"
mkdir -p "$out"
"$lil" sweep "$root/configs/ci-smoke.json" --out "$out/ci-smoke.sqlite"
"$lil" report "$out/ci-smoke.sqlite" --plots "$out"
echo "[lil] table above; plots (PNG and PDF) in $out"
