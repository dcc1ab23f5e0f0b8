#!/usr/bin/env bash
# The README's test command: installs what lil needs (Debian 12, as root), builds, and runs every test
# through ctest (Catch2 binaries grouped per area, the CLI scripts, ...). Prints ctest's summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
. "$root/scripts/env.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 1500
