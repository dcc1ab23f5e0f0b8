#!/usr/bin/env bash
# The README's first command: installs what lil needs (Debian 12, as root), builds, and runs the Lil study end
# to end on CPU with lil's shipped model, models/tiny-varchain (a 0.7M-parameter Llama trained by `lil train
# configs/train-tiny.json` on the synthetic varchain task, datasets/SYNTHETIC.md): one problem decoded with
# full attention and with a small sink budget, then the sweep configs/quickstart.json (64 held-out problems;
# full vs sink/h2o/quest/infllm at budgets 32/64/96, with and without Guardian), the paper-style table and PNG
# plots in results/quickstart/. Each run starts a fresh results database (LIL_QUICKSTART_RESUME=1 keeps it).
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
mkdir -p "$out"
[[ "${LIL_QUICKSTART_RESUME:-0}" == 1 ]] || rm -f "$out/quickstart.sqlite"
started=$(date +%s)
"$lil" sweep "$root/configs/quickstart.json" --out "$out/quickstart.sqlite" --quiet
"$lil" report "$out/quickstart.sqlite" --out "$out" --plots "$out"
echo "[lil] sweep + report took $(( $(date +%s) - started )) s; table above (also $out/report.md); plots (PNG and PDF) in $out"
