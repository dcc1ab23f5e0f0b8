#!/usr/bin/env bash
# The second, sanitized build and the whole test suite on it: every lil library, the lil CLI and both test
# binaries compiled with AddressSanitizer + UndefinedBehaviorSanitizer (gcc, as the main build) in
# build-asan/ (override with SANITIZE_BUILD_DIR), then ctest's three entries there: unit (Catch2,
# torch-free), torch (Catch2, LibTorch) and cli (every tests/cli/test_*.sh, run against the sanitized lil).
#
# LibTorch is Debian's own uninstrumented build, linked as it is: ASan's allocator and LeakSanitizer still
# see every allocation (LibTorch's too), and every line of lil's code is instrumented; LibTorch's own
# code is not checked for out-of-bounds access. No sanitizer check is turned off and nothing of lil's is
# suppressed (fuzz/lsan.supp names the one leak outside lil, in GiNaC's CLN).
#
# Every sanitizer report is written to build-asan/sanitizer-logs/ (log_path), so a report from a process
# whose exit code a test does not look at (a killed sweep, an expected failure) still fails the run.
#   scripts/sanitize.sh [--build-only] [extra ctest arguments, e.g. -R unit]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_only=0
if [[ "${1:-}" == --build-only ]]; then
  build_only=1
  shift
fi
. "$root/scripts/env.sh"
build_dir="${SANITIZE_BUILD_DIR:-$root/build-asan}"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
mkdir -p "$build_dir"
start=$SECONDS
# -O1 -g1: line tables are all a sanitizer stack trace needs, and they halve the compile time of a
# LibTorch translation unit against -g. Assertions stay on (no -DNDEBUG).
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DLIL_SANITIZE=ON -DLIL_BUILD_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" >"$build_dir/configure.log" 2>&1 ||
    { tail -30 "$build_dir/configure.log"; echo "sanitize: configure failed"; exit 1; }
fi
cmake --build "$build_dir" -j "${BUILD_JOBS:-$(nproc)}" >"$build_dir/build.log" 2>&1 ||
  { tail -40 "$build_dir/build.log"; echo "sanitize: build failed"; exit 1; }
echo "sanitize: built $build_dir in $((SECONDS - start)) s"
((build_only)) && exit 0

logs="$build_dir/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
# halt_on_error makes UBSan's reports (recoverable by default) fatal; leaks count too.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
test_start=$SECONDS
status=0
(cd "$build_dir" && ctest --output-on-failure --timeout 3000 -j "$(nproc)" "$@") || status=1
reports=("$logs"/*)
if [[ -e "${reports[0]}" ]]; then
  status=1
  echo "sanitize: ${#reports[@]} sanitizer report(s):"
  for report in "${reports[@]}"; do
    echo "---- $report"
    head -60 "$report"
  done
fi
echo "sanitize: test suite under ASan + UBSan took $((SECONDS - test_start)) s; $( ((status == 0)) && echo clean || echo FAILED)"
exit "$status"
