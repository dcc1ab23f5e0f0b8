#!/usr/bin/env bash
# The README's first command: installs what lil needs (Debian 12, as root), builds, and runs the Lil study end
# to end on CPU with lil's shipped model, models/tiny-varchain (a 3.5M-parameter Llama trained by `lil train
# configs/train-tiny.json` on the synthetic varchain task, datasets/SYNTHETIC.md): one problem decoded with
# full attention and with a small sink budget, then the sweep configs/quickstart.json (48 held-out problems;
# full vs sink/h2o/quest/infllm at budgets 32/64/96, with and without Guardian), the paper-style table and PNG
# plots in results/quickstart/. Each run starts a fresh results database (LIL_QUICKSTART_RESUME=1 continues the last one); the sweep runs as one
# shard per core (LIL_QUICKSTART_JOBS overrides) and the shards are merged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
. "$root/scripts/env.sh"
lil="${BUILD_DIR:-$root/build}/lil"
model="$root/models/tiny-varchain"
"$lil" --version

# One held-out problem, as the sweep renders it (template `varchain`: BOS, question, newline).
question="$(head -1 "$model/test.jsonl" | sed -e 's/.*"question":"//' -e 's/".*//')"
echo "[lil] problem: $question"
for policy in "full" "sink --budget 32"; do
  echo "[lil] lil generate --policy $policy"
  # shellcheck disable=SC2086
  "$lil" generate --model "$model" --prompt "$question"$'\n' --max-new-tokens 400 --policy $policy
done

out="$root/results/quickstart"
mkdir -p "$out/shards"
# One shard per core (lil sweep --shard I/N: whole problems, each with its full-attention reference), one
# thread each, merged into one database: on 2 cores about twice as fast as one process with two threads.
jobs="${LIL_QUICKSTART_JOBS:-$(nproc)}"
(( jobs >= 1 )) || jobs=1
[[ "${LIL_QUICKSTART_RESUME:-0}" == 1 ]] || rm -f "$out"/quickstart.sqlite* "$out"/shards/*
started=$(date +%s)
pids=()
for (( i = 0; i < jobs; i++ )); do
  shard_db="$out/shards/quickstart.shard-$i-of-$jobs.sqlite"
  resume=()
  [[ -f "$shard_db" ]] && resume=(--resume)  # only a kept shard (LIL_QUICKSTART_RESUME=1) is continued
  OMP_NUM_THREADS=1 "$lil" sweep "$root/configs/quickstart.json" --shard "$i/$jobs" --out "$shard_db" --quiet \
    "${resume[@]}" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
(( status == 0 )) || { echo "[lil] a sweep shard failed (exit $status); rerun with LIL_QUICKSTART_RESUME=1 to continue" >&2; exit "$status"; }
rm -f "$out"/quickstart.sqlite*
"$lil" merge "$out/quickstart.sqlite" "$out"/shards/quickstart.shard-*-of-"$jobs".sqlite
"$lil" report "$out/quickstart.sqlite" --out "$out" --plots "$out"
echo "[lil] sweep ($jobs shards) + merge + report took $(( $(date +%s) - started )) s; table above (also $out/report.md); plots (PNG and PDF) in $out"
