#!/usr/bin/env bash
# scripts/ncu_summary.py: the per-kernel table of an Nsight Compute CSV (the GPU profile stage's output).
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
csv="$tmp/ncu.csv"
{
  echo '==PROF== Connected to process 1 (lil)'
  echo '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"'
  row() { echo "\"$1\",\"1\",\"lil\",\"h\",\"$2\",\"1\",\"7\",\"(256, 1, 1)\",\"$3\",\"0\",\"9.0\",\"m\",\"$4\",\"$5\",\"$6\""; }
  # Two launches of one kernel on 6 MB of weights, one on 24 MB (same grid), one small kernel.
  row 0 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" dram__bytes_read.sum byte "6,000,000"
  row 0 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" gpu__time_duration.sum ns "3,000"
  row 1 "void ns::combine<bf16>(Args)" "(12, 1, 1)" dram__bytes_read.sum byte "1,000"
  row 1 "void ns::combine<bf16>(Args)" "(12, 1, 1)" gpu__time_duration.sum ns "2,000"
  row 2 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" dram__bytes_read.sum byte "24,000,000"
  row 2 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" gpu__time_duration.sum ns "8,000"
  row 3 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" dram__bytes_read.sum byte "6,000,000"
  row 3 "void ns::gemv_kernel<bf16, 1>(Args)" "(256, 1, 1)" gpu__time_duration.sum ns "5,000"
} > "$csv"
out=$(python3 "$root/scripts/ncu_summary.py" "$csv") || fail "ncu_summary.py failed on a valid CSV"
expect_contains "$out" "4 kernels, 18.0 us of GPU time in all"
expect_contains "$out" '| `gemv_kernel<bf16, 1>` | (256, 1, 1) | (256, 1, 1) | 2 | 4.00 | 6.00 | 1500 | 8.0 |'
expect_contains "$out" '| `gemv_kernel<bf16, 1>` | (256, 1, 1) | (256, 1, 1) | 1 | 8.00 | 24.00 | 3000 | 8.0 |'
expect_contains "$out" '| `combine<bf16>` | (12, 1, 1) | (256, 1, 1) | 1 | 2.00 | 0.00 | 0 | 2.0 |'
last=$(python3 "$root/scripts/ncu_summary.py" "$csv" --last 2 --json) || fail "--last 2 --json failed"
python3 -c '
import json, sys
groups = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [g["count"] for g in groups] == [1, 1], groups
assert abs(groups[0]["GBps"] - 3000) < 1e-9 and abs(groups[1]["mean_us"] - 5) < 1e-9, groups
' "$last" || fail "--last 2 --json: $last"
# Bad input: a clear message naming the file, exit code 2.
echo "no csv here" > "$tmp/empty.csv"
expect_exit 2 python3 "$root/scripts/ncu_summary.py" "$tmp/empty.csv"
expect_exit 2 python3 "$root/scripts/ncu_summary.py" "$tmp/missing.csv"
msg=$(python3 "$root/scripts/ncu_summary.py" "$tmp/empty.csv" 2>&1)
expect_contains "$msg" "empty.csv"
echo "ncu_summary ok"
