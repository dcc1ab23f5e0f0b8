#!/usr/bin/env bash
# The GPU issue's benchmark, for one device-tool call (run scripts/gpu_deps.sh and scripts/gpu_snapshot.sh
# here first and carry .carry): builds the committed sources against the machine's CUDA LibTorch, runs the
# fast-path tests, then lil bench and the Hugging Face baseline side by side (1k context, batch 1 and 32, the
# three shapes; 8k prefill; 32k context with every policy), writing <gpu>-<date>.jsonl and its Markdown table
# (scripts/bench_table.py) to $OUT. Copy both to results/gpu/ and commit them.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-/tmp/lil-gpu-out}"
export LIL_CMAKE_ARGS="${LIL_CMAKE_ARGS:--DLIL_BUILD_BENCH=OFF}" LIL_BUILD_TARGETS="${LIL_BUILD_TARGETS:-lil lil_torch_tests}"
bash scripts/gpu_session.sh snapshot deps build fast-test bench bench-long
for f in "$out"/*.jsonl; do
  [[ -f "$f" ]] && python3 scripts/bench_table.py "$f" > "${f%.jsonl}.md"
done
