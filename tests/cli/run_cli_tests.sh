#!/usr/bin/env bash
# Runs every tests/cli/test_*.sh against the lil binary given as $1. Each script gets LIL=<binary> and a
# scratch directory in TMP_DIR, and exits non-zero on failure. Prints "N passed, N failed".
set -u
lil_binary="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
passed=0
failed=0
for script in "$here"/test_*.sh; do
  [[ -e "$script" ]] || continue
  scratch="$(mktemp -d)"
  if LIL="$lil_binary" TMP_DIR="$scratch" bash "$script" >"$scratch/log" 2>&1; then
    passed=$((passed + 1))
    echo "PASS $(basename "$script")"
  else
    failed=$((failed + 1))
    echo "FAIL $(basename "$script")"
    sed 's/^/    /' "$scratch/log" | tail -40
  fi
  rm -rf "$scratch"
done
echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
