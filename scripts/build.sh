#!/usr/bin/env bash
# Configures and builds lil into build/ (override with BUILD_DIR). Extra arguments go to cmake's configure
# step, e.g. scripts/build.sh -DCMAKE_PREFIX_PATH=/path/to/libtorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/env.sh"
build_dir="${BUILD_DIR:-$root/build}"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build_dir" "${generator[@]}" "$@"
elif (($#)); then
  cmake "$build_dir" "$@"
fi
cmake --build "$build_dir" -j "${BUILD_JOBS:-$(nproc)}"
echo "[lil] built $build_dir/lil"
