#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, straight from the torch-free sources of src/core,
# src/tokenizer, datasets and the sweep-config parser, so the main build is untouched): one binary per
# entry point of fuzz/entry_points.cpp. Replays the committed crash regressions in
# fuzz/regressions/<target>/, then fuzzes each target for a bounded time from seeds made out of the
# repository's real files. Exits non-zero on any finding (crash, leak, sanitizer report, an exception
# other than LilError, a timeout or running out of memory); crashing inputs are kept in
# $FUZZ_BUILD_DIR/findings/. Prints executions per target and in total.
#   scripts/fuzz.sh [--seconds N] [--only TARGET] [--build-only] [--jobs N] [-- extra libFuzzer flags]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
only=""
build_only=0
jobs="${BUILD_JOBS:-$(nproc)}"
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: scripts/fuzz.sh [--seconds N] [--only TARGET] [--build-only] [--jobs N] [-- libFuzzer flags]" >&2; exit 2 ;;
  esac
done
out="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
mkdir -p "$out"
cxx="$(command -v clang++ || command -v clang++-14 || true)"
[[ -n "$cxx" ]] || { echo "fuzz: clang++ not found (scripts/install_deps.sh installs it)" >&2; exit 2; }
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="ccache "

# ---- build: a generated ninja file, so rebuilds are incremental and header changes are tracked ----
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cflags="-std=c++17 -O1 -g $sanitize -I$root/src -I$root -DLIL_SOURCE_DIR=\\\"$root\\\" $(pkg-config --cflags libpcre2-8 libutf8proc ginac)"
libs="$(pkg-config --libs libpcre2-8 libutf8proc ginac) -lsqlite3"
# The torch-free sources; sweep_config.cpp needs only results_db.cpp (SQLite) from src/runtime. The
# synthetic-task generators (datasets/synthetic_*.cpp) are left out: no fuzzed entry point reaches them,
# and synthetic_varchain.cpp captures structured bindings in lambdas, which clang 14 cannot compile.
mapfile -t lib_sources < <(cd "$root" && ls src/core/*.cpp src/tokenizer/*.cpp datasets/*.cpp \
  src/runtime/sweep_config.cpp src/runtime/results_db.cpp | grep -v '^datasets/synthetic_')
# The targets are the entry points listed in fuzz/entry_points.cpp's table.
mapfile -t targets < <(sed -nE 's/^ *\{"([a-z_]+)", .*/\1/p' "$root/fuzz/entry_points.cpp")
((${#targets[@]})) || { echo "fuzz: no entry points found in fuzz/entry_points.cpp" >&2; exit 2; }
{
  echo "rule cxx"
  echo "  command = $launcher$cxx $cflags \$extra -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "rule link"
  echo "  command = $cxx $sanitize -fsanitize=fuzzer \$in -o \$out $libs"
  objs=""
  for s in "${lib_sources[@]}" fuzz/entry_points.cpp; do
    echo "build obj/${s%.cpp}.o: cxx $root/$s"
    echo "  extra = -fsanitize=fuzzer-no-link"
    objs+=" obj/${s%.cpp}.o"
  done
  for t in "${targets[@]}"; do
    echo "build obj/fuzz/target-$t.o: cxx $root/fuzz/fuzz_target.cpp"
    echo "  extra = -fsanitize=fuzzer-no-link -DLIL_FUZZ_TARGET=\\\"$t\\\""
    echo "build $t: link obj/fuzz/target-$t.o$objs"
  done
} > "$out/build.ninja.new"
cmp -s "$out/build.ninja.new" "$out/build.ninja" 2>/dev/null || mv "$out/build.ninja.new" "$out/build.ninja"
rm -f "$out/build.ninja.new"
ninja -C "$out" -j "$jobs" >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; echo "fuzz: build failed"; exit 1; }
((build_only)) && { echo "fuzz: built ${#targets[@]} targets in $out"; exit 0; }

# ---- seeds, rebuilt each run from real files (nothing from the competition data sets is committed) ----
seeds="$out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{safetensors_header,safetensors_index,model_config,tokenizer_json,tokenizer_codec,dataset_jsonl,sweep_config,answer_grading}
models="$root/tests/fixtures/models"
for f in "$models"/*/*.safetensors; do
  header_len=$(od -An -tu8 -N8 "$f" | tr -d ' ')
  dd if="$f" iflag=skip_bytes,count_bytes skip=8 count="$header_len" status=none > "$seeds/safetensors_header/$(basename "$(dirname "$f")")-$(basename "$f" .safetensors)"
done
printf '%s' '{"w":{"dtype":"F32","shape":[8,8],"data_offsets":[0,256]},"__metadata__":{"format":"pt"}}' > "$seeds/safetensors_header/one"
printf '%s' '{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"U8","shape":[244],"data_offsets":[12,256]}}' > "$seeds/safetensors_header/two"
cp "$models/tiny-llama/model.safetensors.index.json" "$seeds/safetensors_index/"
for d in "$models"/*/; do cp "$d/config.json" "$seeds/model_config/$(basename "$d")"; done
for d in "$root"/tests/fixtures/tokenizer/synthetic/*/; do
  [[ -f "$d/tokenizer.json" ]] && cp "$d/tokenizer.json" "$seeds/tokenizer_json/$(basename "$d")"
done
head -c 4000 "$root/tests/fixtures/tokenizer/corpus.jsonl" > "$seeds/tokenizer_codec/corpus"
printf 'Hello <|im_start|>user\n\xe2\x82\xac 12.5\xf0\x9f\x98\x80 \xff' > "$seeds/tokenizer_codec/mixed"
for f in "$root"/datasets/samples/*.jsonl; do cp "$f" "$seeds/dataset_jsonl/"; done
for f in "$root"/configs/*.json; do cp "$f" "$seeds/sweep_config/"; done
python3 - "$root/datasets/samples" "$seeds/answer_grading" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
n = 0
for name in sorted(os.listdir(src)):
    for line in open(os.path.join(src, name), encoding="utf-8"):
        rec = json.loads(line)
        gold = str(rec.get("answer", ""))
        text = rec.get("solution") or rec.get("answer") or ""
        for output in (str(text), "The answer is $\\boxed{%s}$." % gold, "#### " + gold):
            with open(os.path.join(dst, "s%03d" % n), "wb") as f:
                f.write(output.encode() + b"\0" + gold.encode())
            n += 1
PY

# ---- replay regressions, then fuzz ----
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
findings="$out/findings"
mkdir -p "$findings"
passed=0
failed=0
total_runs=0
for t in "${targets[@]}"; do
  [[ -n "$only" && "$t" != "$only" ]] && continue
  log="$out/$t.log"
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  ok=1
  regressions=("$root/fuzz/regressions/$t"/*)
  if [[ -e "${regressions[0]}" ]] && ! "$out/$t" -rss_limit_mb=2048 -timeout=30 "${regressions[@]}" >"$log.regressions" 2>&1; then
    ok=0
    echo "fuzz: $t fails a committed regression input:"
    tail -30 "$log.regressions"
  fi
  if ((ok)) && ! (cd "$out" && "./$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$findings/$t-" "$@" "$corpus" "$seeds/$t" >"$log" 2>&1); then
    ok=0
    echo "fuzz: $t found a problem (input in $findings/):"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==|Test unit written" "$log" | head -20 || true
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' | tail -1 || true)
  runs=${runs:-0}
  total_runs=$((total_runs + runs))
  if ((ok)); then
    passed=$((passed + 1))
    echo "fuzz: $t ok ($runs executions in ${seconds}s)"
  else
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed; $total_runs executions in all"
((failed == 0))
