#!/usr/bin/env bash
# The README's test command: installs what lil needs (Debian 12, as root), builds, and runs every test
# through ctest (Catch2 binaries grouped per area, the CLI scripts, ...), printing ctest's summary; then
# compiles the CUDA code without a GPU (scripts/cuda_check.sh). Then the reliability runs: the whole suite
# again under ASan + UBSan (scripts/sanitize.sh, build-asan/) and every libFuzzer target for
# LIL_FUZZ_SECONDS each (scripts/fuzz.sh, default 45). Any failure fails the run, after all of them have
# run. LIL_TEST_SANITIZE=0 / LIL_TEST_FUZZ=0 skip them on a quick local run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
. "$root/scripts/env.sh"
failed=()
stage_start=$SECONDS
# The entries (unit, torch, cli) are one process at a time each: run side by side, they use both cores.
(cd "${BUILD_DIR:-$root/build}" && ctest --output-on-failure --timeout 1500 -j "$(nproc)") || failed+=(ctest)
echo "[lil] ctest took $((SECONDS - stage_start)) s"
# The CUDA kernels and the CUDA-only C++, compiled without a GPU (skipped where there is no CUDA toolkit).
stage_start=$SECONDS
bash "$root/scripts/cuda_check.sh" || failed+=(cuda-check)
echo "[lil] CUDA compile check took $((SECONDS - stage_start)) s"

sanitize="${LIL_TEST_SANITIZE:-1}"
fuzz="${LIL_TEST_FUZZ:-1}"
fuzz_dir="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
# Both builds first (they use every core); then the fuzzers (one process) run in the background while
# the sanitized suite runs, so CI's two cores stay busy.
stage_start=$SECONDS
if [[ "$sanitize" == 1 ]]; then bash "$root/scripts/sanitize.sh" --build-only || failed+=(sanitize-build); fi
if [[ "$fuzz" == 1 ]]; then bash "$root/scripts/fuzz.sh" --build-only || failed+=(fuzz-build); fi
echo "[lil] sanitized and fuzz builds took $((SECONDS - stage_start)) s"
stage_start=$SECONDS
fuzz_pid=""
if [[ "$fuzz" == 1 && ! " ${failed[*]} " =~ " fuzz-build " ]]; then
  mkdir -p "$fuzz_dir"
  bash "$root/scripts/fuzz.sh" --seconds "${LIL_FUZZ_SECONDS:-45}" >"$fuzz_dir/run.log" 2>&1 &
  fuzz_pid=$!
fi
if [[ "$sanitize" == 1 && ! " ${failed[*]} " =~ " sanitize-build " ]]; then
  bash "$root/scripts/sanitize.sh" || failed+=(sanitize)
fi
if [[ -n "$fuzz_pid" ]]; then
  wait "$fuzz_pid" || failed+=(fuzz)
  cat "$fuzz_dir/run.log"
fi
echo "[lil] sanitized suite and fuzzing took $((SECONDS - stage_start)) s"
if ((${#failed[@]})); then
  echo "[lil] FAILED: ${failed[*]}"
  exit 1
fi
echo "[lil] all tests passed"
