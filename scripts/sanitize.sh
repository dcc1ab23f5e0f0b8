#!/usr/bin/env bash
# The second, sanitized build: the torch-free libraries (lil_core, lil_datasets) and their Catch2 tests
# (lil_unit_tests) under AddressSanitizer + UndefinedBehaviorSanitizer, in build-sanitize/ (override with
# SANITIZE_BUILD_DIR). Any sanitizer report fails the run. The torch targets are left out: rebuilding every
# LibTorch file under ASan would roughly double CI's build time, and LibTorch itself is not instrumented.
#   scripts/sanitize.sh [extra Catch2 arguments, e.g. a tag filter]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
build_dir="${SANITIZE_BUILD_DIR:-$root/build-sanitize}"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
mkdir -p "$build_dir"
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DLIL_SANITIZE=ON -DLIL_BUILD_BENCH=OFF >"$build_dir/configure.log" 2>&1 ||
    { tail -30 "$build_dir/configure.log"; echo "sanitize: configure failed"; exit 1; }
fi
cmake --build "$build_dir" --target lil_unit_tests -j "${BUILD_JOBS:-$(nproc)}" >"$build_dir/build.log" 2>&1 ||
  { tail -40 "$build_dir/build.log"; echo "sanitize: build failed"; exit 1; }

# halt_on_error turns UBSan's reports (recoverable by default) into failures; leaks count too.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
log="$build_dir/unit_tests.log"
set +e
(cd "$root" && OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$build_dir/lil_unit_tests" --reporter compact "$@") >"$log" 2>&1
rc=$?
set -e
summary="$(grep -E '^(All tests passed|test cases:)' "$log" | tail -1)"
passed=$(sed -nE 's/^All tests passed \([0-9]+ assertions? in ([0-9]+) test cases?\).*/\1/p; s/^test cases: *[0-9]+ \| *([0-9]+) passed.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/^test cases:.*\| *([0-9]+) failed.*/\1/p' <<<"$summary")
sanitizer_reports=$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" || true)
if ((rc != 0)) || ((sanitizer_reports > 0)) || [[ -z "$summary" ]]; then
  grep -E -A25 'ERROR: (Address|Leak)Sanitizer|runtime error:|FAILED' "$log" | head -80 || true
  tail -5 "$log"
  echo "sanitize: ${passed:-0} passed, ${failed:-1} failed ($sanitizer_reports sanitizer reports, exit $rc; log $log)"
  exit 1
fi
echo "sanitize: ${passed:-0} passed, ${failed:-0} failed"
