#!/usr/bin/env python3
"""Per-kernel summary of an Nsight Compute CSV (`ncu --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum`,
as `scripts/gpu_session.sh ... profile` writes it): kernels grouped by name, grid and bytes read (to the
nearest power of two, above 2 MB) in launch order, with
their count, mean GPU time, mean DRAM bytes read and the bandwidth that makes, and the sum over the group.

    python3 scripts/ncu_summary.py ncu-qwen2-1.5b.csv [--last N] [--json]

--last N keeps the last N profiled kernels only (e.g. one decode step: 6 per layer + the lm_head for the
dense shapes, so 28 * 6 + 1 for qwen2-1.5b), which leaves the warm-up run's steps out. Exit code 2 with a
message naming the file when it holds no kernel rows or lacks a column.
"""
import argparse
import csv
import json
import math
import sys

NEEDED = ("ID", "Kernel Name", "Grid Size", "Block Size", "Metric Name", "Metric Value")
TIME, BYTES = "gpu__time_duration.sum", "dram__bytes_read.sum"


def fail(msg):
    print(f"ncu_summary: {msg}", file=sys.stderr)
    sys.exit(2)


def short_name(name):
    # "void lil::kernels::(anonymous namespace)::gemv_kernel<__nv_bfloat16, 1, 0, 8>(GemvArgs)" -> "gemv_kernel<...>"
    base = name.split("(")[0] if not name.startswith("void ") else name[5:].split("(")[0]
    return base.split("::")[-1]


def read_kernels(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if line.startswith('"')]
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    rows = list(csv.reader(lines))
    if not rows:
        fail(f"{path}: no CSV rows (expected Nsight Compute --csv output with the metrics {TIME}, {BYTES})")
    header = rows[0]
    missing = [c for c in NEEDED if c not in header]
    if missing:
        fail(f"{path}: the header lacks {', '.join(missing)}")
    kernels = {}
    for r in rows[1:]:
        d = dict(zip(header, r))
        try:
            kid = int(d["ID"])
        except ValueError:
            fail(f"{path}: kernel ID {d['ID']!r} is not an integer")
        k = kernels.setdefault(kid, {"name": short_name(d["Kernel Name"]), "grid": d["Grid Size"],
                                     "block": d["Block Size"]})
        value = d["Metric Value"].replace(",", "")
        try:
            k[d["Metric Name"]] = float(value)
        except ValueError:
            k[d["Metric Name"]] = float("nan")
    if not kernels:
        fail(f"{path}: no kernel rows")
    return [kernels[i] for i in sorted(kernels)]


def summarize(kernels):
    groups = {}
    for k in kernels:
        # The same kernel on different weights (o_proj and down_proj share a launch shape): told apart by the
        # bytes they read, to the nearest power of two above 2 MB (below, what a launch reads varies with the
        # caches).
        b = k.get(BYTES, float("nan"))
        key = (k["name"], k["grid"], k["block"], round(math.log2(b / 1e6)) if b == b and b > 2e6 else None)
        g = groups.setdefault(key, {"kernel": k["name"], "grid": k["grid"], "block": k["block"], "count": 0,
                                    "time_us": 0.0, "bytes": 0.0})
        t, b = k.get(TIME, float("nan")), k.get(BYTES, float("nan"))
        if t != t:  # a kernel Nsight Compute could not measure
            continue
        g["count"] += 1
        g["time_us"] += t / 1e3
        g["bytes"] += b if b == b else 0.0
    out = []
    for g in groups.values():
        if g["count"] == 0:
            continue
        g["mean_us"] = g["time_us"] / g["count"]
        g["mean_MB"] = g["bytes"] / g["count"] / 1e6
        g["GBps"] = g["bytes"] / (g["time_us"] * 1e3) if g["time_us"] > 0 else 0.0
        out.append(g)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--last", type=int, default=0, help="only the last N profiled kernels")
    ap.add_argument("--json", action="store_true", help="one JSON object per group instead of a table")
    a = ap.parse_args()
    if a.last < 0:
        fail("--last must be >= 0")
    kernels = read_kernels(a.csv)
    if a.last:
        kernels = kernels[-a.last:]
    groups = summarize(kernels)
    total = sum(g["time_us"] for g in groups)
    if a.json:
        for g in groups:
            print(json.dumps(g, sort_keys=True))
        return
    print(f"{len(kernels)} kernels, {total:.1f} us of GPU time in all")
    print("| kernel | grid | block | count | mean us | mean MB read | GB/s | total us |")
    print("|---|---|---|---|---|---|---|---|")
    for g in groups:
        print(f"| `{g['kernel']}` | {g['grid']} | {g['block']} | {g['count']} | {g['mean_us']:.2f} | "
              f"{g['mean_MB']:.2f} | {g['GBps']:.0f} | {g['time_us']:.1f} |")


if __name__ == "__main__":
    main()
