#!/usr/bin/env bash
# The device tool copies the working tree (tracked files and untracked ones git does not ignore) and refuses a
# tree over 64 MiB, which the repository's tracked files nearly fill. No stage of scripts/gpu_session.sh reads
# the shipped model (models/tiny-varchain, 14 MB), so it can stay behind for a device call:
#   scripts/gpu_slim.sh on    # untrack it in the index only (its files stay) and ignore it in this checkout
#   scripts/gpu_slim.sh off   # track it again (run after the call, before any commit)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=models/tiny-varchain
exclude=.git/info/exclude
case "${1:-}" in
  on)
    git rm -r --cached -q "$model"
    grep -qxF "/$model/" "$exclude" 2>/dev/null || echo "/$model/" >> "$exclude"
    echo "gpu_slim: $model left out of the device copy; run 'scripts/gpu_slim.sh off' after the call" ;;
  off)
    git reset -q -- "$model"
    if [[ -f "$exclude" ]]; then grep -vxF "/$model/" "$exclude" > "$exclude.tmp" || true; mv "$exclude.tmp" "$exclude"; fi
    echo "gpu_slim: $model tracked again" ;;
  *)
    echo "usage: scripts/gpu_slim.sh on|off" >&2
    exit 2 ;;
esac
