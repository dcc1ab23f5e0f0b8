#!/usr/bin/env bash
# Run HERE before a GPU session: packs the committed sources (HEAD) into .carry/head.tar, so that
# `scripts/gpu_session.sh snapshot ...` builds exactly the last commit even while the working tree has
# uncommitted edits (the device tool sends the working tree as it is).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .carry
git archive --format=tar -o .carry/head.tar HEAD -- src policies datasets bench tests/unit tests/torch tests/cli fuzz \
  CMakeLists.txt tests/catch_main.cpp 2>/dev/null || git archive --format=tar -o .carry/head.tar HEAD -- src policies \
  datasets bench tests/unit tests/torch tests/cli CMakeLists.txt
# xz-compressed under the same name (GNU tar detects it when extracting): the device tool sends at most 64 MiB,
# and the tracked tree (fixtures, the shipped model) already takes ~60 MiB of it. Carry only what a call needs
# (e.g. deps.tar.xz + head.tar; tokenizers.tar.xz only for the tokenizer-backed tests).
xz -T0 -9 -f .carry/head.tar && mv .carry/head.tar.xz .carry/head.tar
git log --oneline -1 > .carry/head.commit
du -sh .carry/head.tar
