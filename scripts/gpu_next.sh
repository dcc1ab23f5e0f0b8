#!/usr/bin/env bash
# The GPU issue's pending measurements as one device call, most wanted first, so that a call cut short by its
# limit (600 s a command, or less device time left) still brings back the first ones: every stage streams its
# results into $OUT as it goes. The device tool brings back at most 8 files from $OUT; this call leaves five:
# session.log (every stage's output, in order), build.log, bench.err, fast_tests.log and the results
# <gpu>-<date>.jsonl.
#
#   scripts/gpu_slim.sh on; git rev-parse --short HEAD > .carry/head.commit
#   device run: bash scripts/gpu_next.sh    (carry .carry/deps.tar.xz and .carry/head.commit)
#   scripts/gpu_slim.sh off
#
# The stages (scripts/gpu_session.sh has each one's details). Taken on an H100 in the sixteenth session
# (results/gpu/README.md): 2-6, 8-10; in the seventeenth: 1, 12, 9, 10 (LIL_ATTN_MMA=0), 11 (quest); in the
# eighteenth: 1, 12, 9, 10 (LIL_SELECT_TARGET_BLOCKS), 11 (infllm); in the nineteenth: 1, 12, 9, 11 (infllm),
# then 1, 9, 5 (h2o 1024), then 1, 12, 9, 5 (h2o). Pending: 7 on an H200. The default: 1, 12, 9, 11, 7.
#   1. build lil and lil_torch_tests (no Google Benchmark target) against the machine's CUDA LibTorch;
#   2. 32k context, batch 8, on the Llama-8B shape: full, sink 256, quest 256 (the "TBT goes down" table where
#      the linear layers run near the bandwidth; bench_table.py checks each ratio against the bytes ratio);
#   3. batch 4 at 1k (1.5B and 8B): the GEMV's wide builds for three and four rows, LIL_GEMV_WIDE4=0/1/2, with
#      LIL_GEMV_MAX_ROWS=4 (the default, 1, sends three and four rows to cuBLAS);
#   4. the wide builds' correctness: the linear-kernel test and the graph/eager/plain tests (every policy, random
#      models) with LIL_GEMV_WIDE4=1 and =2 and LIL_GEMV_MAX_ROWS=4;
#   5. the rest of the 8B 32k table: LIL_NEXT_256 (default h2o infllm) at 256 and LIL_NEXT_1024 (default sink h2o
#      quest infllm) at 1024, either empty for none (h2o's 32k prefill keeps every attention score: minutes);
#   6. batch 4: LIL_GEMV_MAX_ROWS=4 and 1 (four GEMV rows against cuBLAS);
#   7. the headline table (1k, batch 1 and 32, three shapes, Hugging Face eager side by side, the 8k prefill);
#      runs last, or right after the build on an H200 (where the issue sets its targets);
#   8. batches 1-4 at 1k (1.5B and 8B): the GEMV's row limit LIL_GEMV_MAX_ROWS on either side of each batch size;
#   9. the 8B 32k table in one build: full, sink / quest / infllm at 256 and 1024 (h2o's prefill takes minutes;
#      LIL_NEXT_9_POLICIES and LIL_NEXT_9_BUDGETS narrow it, `full` always runs);
#  10. 32k batch 8 on the 8B shape, a knob (LIL_NEXT_32K_VAR, default LIL_ATTN_TARGET_BLOCKS) over values
#      (LIL_NEXT_32K_VALUES, default 264 528 1056) for policies (LIL_NEXT_32K_POLICIES) at LIL_NEXT_32K_BUDGETS;
#  11. Nsight Compute per-kernel times of the 8B's 32k batch-8 steps for quest and infllm at 1024
#      (LIL_NEXT_PROFILE, LIL_NEXT_PROFILE_BUDGET): where the selection and gathered attention spend their time.
#  12. every [fast] CUDA test (runs right after the build; its log also in $OUT/fast_tests.log).
# LIL_NEXT_STAGES picks stages by number (default "1 12 9 11 7").
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
out="${OUT:-/tmp/lil-gpu-out}"
mkdir -p "$out"
log="$out/session.log"
stages=" ${LIL_NEXT_STAGES:-1 12 9 11 7} "
want() { [[ "$stages" == *" $1 "* ]]; }
note() { echo "[gpu_next $(date +%T)] $*" >> "$log"; }
session() { OUT="$out" bash scripts/gpu_session.sh "$@" >> "$log" 2>&1; }
batch4_ab() {  # one knob over its values at batch 4, 1k context, the 1.5B and 8B shapes
  LIL_AB_BATCH=4 LIL_AB_SHAPES="qwen2-1.5b llama-8b" LIL_AB_VAR="$1" LIL_AB_VALUES="$2" session bench-ab
}

if want 1; then
  note "stage 1: build"
  LIL_CMAKE_ARGS="${LIL_CMAKE_ARGS:--DLIL_BUILD_BENCH=OFF}" LIL_BUILD_TARGETS="${LIL_BUILD_TARGETS:-lil lil_torch_tests}" \
    session deps build || { note "build failed"; tail -n 40 "$log"; exit 1; }
fi
if want 12; then
  # Correctness before speed: every [fast] CUDA test (kernels against their ATen twins, graph = eager = plain).
  note "stage 12: the [fast] CUDA tests"
  session fast-test
fi
# The issue's targets are set on an H200: there the headline table comes right after the build, not last.
headline() { note "stage 7: headline table"; session bench; }
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
if want 7 && [[ "$gpu_name" == *H200* ]]; then
  headline
  stages="${stages/ 7 / }"
fi
if want 2; then
  note "stage 2: 32k batch 8, llama-8b, full / sink 256 / quest 256"
  LIL_32K_SHAPES=llama-8b LIL_32K_POLICIES="sink quest" LIL_32K_BUDGETS=256 session bench-32k
fi
if want 3; then
  note "stage 3: batch 4, LIL_GEMV_WIDE4 0 1 2"
  (export LIL_GEMV_MAX_ROWS=4 LIL_AB_TAG='"LIL_GEMV_MAX_ROWS":"4"'; batch4_ab LIL_GEMV_WIDE4 "0 1 2")
fi
if want 4; then
  for wide in 1 2; do
    note "stage 4: LIL_GEMV_WIDE4=$wide correctness"
    LIL_GEMV_MAX_ROWS=4 LIL_GEMV_WIDE4=$wide timeout 120 ./build-gpu/lil_torch_tests \
      "Fused kernels: the small-batch linear kernel*,Fused decode: graph replay*" 2>&1 |
      tail -n 4 >> "$log"
  done
fi
if want 5; then
  note "stage 5: the rest of the llama-8b 32k table"
  for budget in 256 1024; do
    if [[ $budget == 256 ]]; then policies="${LIL_NEXT_256-h2o infllm}"; else policies="${LIL_NEXT_1024-sink h2o quest infllm}"; fi
    [[ -n "$policies" ]] || continue
    LIL_32K_SHAPES=llama-8b LIL_32K_FULL=0 LIL_32K_POLICIES="$policies" LIL_32K_BUDGETS=$budget session bench-32k
  done
fi
if want 6; then
  note "stage 6: batch 4, LIL_GEMV_MAX_ROWS 4 1"
  batch4_ab LIL_GEMV_MAX_ROWS "4 1"
fi
if want 8; then
  # The GEMV's row limit against cuBLAS at each small batch: 0 sends every row to cuBLAS.
  for batch in 1 2 3 4; do
    case $batch in 1) values="0 1" ;; 2) values="1 2" ;; 3) values="2 3" ;; 4) values="2 4" ;; esac
    note "stage 8: batch $batch, LIL_GEMV_MAX_ROWS $values"
    LIL_AB_BATCH=$batch LIL_AB_SHAPES="qwen2-1.5b llama-8b" LIL_AB_VAR=LIL_GEMV_MAX_ROWS LIL_AB_VALUES="$values" \
      session bench-ab
  done
fi
if want 9; then
  note "stage 9: the llama-8b 32k table in one build, h2o left out (its 32k prefill takes minutes)"
  LIL_32K_SHAPES=llama-8b LIL_32K_POLICIES="${LIL_NEXT_9_POLICIES:-sink quest infllm}" \
    LIL_32K_BUDGETS="${LIL_NEXT_9_BUDGETS:-256 1024}" session bench-32k
fi
if want 10; then
  # Attention blocks per step at 32k, batch 8, budget 1024 (8B): 8 rows x 8 KV heads take 4 splits of 256 slots at
  # the default 264 blocks; more, shorter splits for the policies' small attended sets.
  var="${LIL_NEXT_32K_VAR:-LIL_ATTN_TARGET_BLOCKS}"
  for value in ${LIL_NEXT_32K_VALUES:-264 528 1056}; do
    note "stage 10: 32k, $var=$value"
    (export "$var=$value" LIL_BENCH_TAG="\"$var\":\"$value\""
     LIL_32K_SHAPES=llama-8b LIL_32K_FULL=0 LIL_32K_POLICIES="${LIL_NEXT_32K_POLICIES:-sink quest infllm}" \
       LIL_32K_BUDGETS="${LIL_NEXT_32K_BUDGETS:-1024}" session bench-32k)
  done
  grep -h '"LIL_' "$out"/*.jsonl | python3 -c 'import sys,json
for l in sys.stdin:
  d=json.loads(l); k=[x for x in d if x.startswith("LIL_")]
  print(d["shape"], d["context"], d["policy"], d["budget"], " ".join(x + "=" + str(d[x]) for x in k), "tbt %.3f ms" % (1e3*d["tbt_p50_s"]), "x%.3f floor" % d["tbt_over_floor"])' >> "$log"
fi
if want 11; then
  # Where the policies' 32k steps go beyond their bytes: Nsight Compute's per-kernel times of fused (non-graph)
  # steps, 8B shape, batch 8, the policies in LIL_NEXT_PROFILE at budget LIL_NEXT_PROFILE_BUDGET. The tables go
  # to session.log, the CSVs stay on the machine (the device tool brings back at most 8 files). lil bench's warm-up
  # (the first prompt alone, 3 decode steps) comes first; 2400 launches take it and the 3 batch-8 steps (about 350
  # launches a step), which the summary lists apart (its groups are by kernel and grid).
  for policy in ${LIL_NEXT_PROFILE:-quest infllm}; do
    note "stage 11: profile llama-8b 32k batch 8 $policy ${LIL_NEXT_PROFILE_BUDGET:-1024}"
    LIL_PROFILE_DIR=/tmp/lil-profile LIL_PROFILE_SHAPES=llama-8b LIL_PROFILE_CONTEXT=32768 LIL_PROFILE_BATCH=8 \
      LIL_PROFILE_POLICY="$policy" LIL_PROFILE_BUDGET="${LIL_NEXT_PROFILE_BUDGET:-1024}" LIL_PROFILE_TIMEOUT=300 \
      LIL_PROFILE_KERNELS=2400 session profile
  done
fi
if want 7; then headline; fi
note "done"
for f in "$out"/*.jsonl; do [[ -f "$f" ]] && python3 scripts/bench_table.py "$f" 2>&1 | sed -n '/^## Targets/,$p'; done
tail -n 20 "$log"
