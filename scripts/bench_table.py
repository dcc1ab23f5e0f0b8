#!/usr/bin/env python3
"""Markdown tables from `lil bench --json` / `scripts/hf_baseline.py --json` lines (results/gpu/*.jsonl),
with the GPU issue's targets checked against the figures of the latest lil commit in the file.
    python3 scripts/bench_table.py results/gpu/NVIDIA-H200-2026-11-29.jsonl > results/gpu/NVIDIA-H200-2026-11-29.md
"""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def ms(x):
    return f"{x * 1e3:.3f}"


# Measurement knobs a run may be tagged with (scripts/gpu_session.sh bench-ab/bench-pdl, A/B files): shown in the
# decode table; the targets are checked on runs with none set (the default configuration).
def knobs(r):
    tags = {k: v for k, v in r.items() if k.startswith("LIL_") or k in ("pdl", "gemv_blocks_per_sm")}
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    # Hugging Face lines name their engine "hf-..."; lil lines carry the commit they were built from (their
    # "engine" is lil's own: device loop or generate; older lines were tagged "engine": "lil").
    hf = [r for r in rows if str(r.get("engine", "")).startswith("hf")]
    lil = [r for r in rows if "commit" in r and not str(r.get("engine", "")).startswith("hf")]
    commits = []
    for r in lil:
        if r["commit"] not in commits:
            commits.append(r["commit"])
    latest = commits[-1] if commits else None
    out = [f"# lil bench on {hf[0]['device'] if hf else 'GPU'}", "",
           f"Source: `{sys.argv[1]}` ({len(lil)} lil runs from commits {', '.join(commits)}; {len(hf)} Hugging Face "
           f"runs, transformers {hf[0]['transformers'] if hf else '?'}, torch {hf[0]['torch'] if hf else '?'}).",
           "All lil runs: random bf16 weights of the named shape, `--mode graph` (fused kernels, CUDA-graph replay) "
           "unless the mode column says otherwise. TBT p50 from CUDA events; floor = bytes one step must read / "
           "device-to-device copy bandwidth measured in the same run.", ""]
    out += ["## Decode runs", "",
            "| commit | shape | context | batch | policy | budget | mode | controller | TTFT s | TBT p50 ms | TBT p99 ms | "
            "floor ms | TBT/floor | tokens/s | of bound | prefill/matmul | knobs |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in lil:
        out.append(f"| {r['commit']} | {r['shape']} | {r['context']} | {r['batch']} | {r['policy']} | {r['budget']} | "
                   f"{r['mode']} | {r['controller']} | {r['ttft_s']:.3f} | {ms(r['tbt_p50_s'])} | {ms(r['tbt_p99_s'])} | "
                   f"{ms(r['floor_s'])} | {r['tbt_over_floor']:.2f} | {r['tokens_per_s']:.0f} | "
                   f"{r['tokens_per_s_over_bound']:.2f} | {r['prefill_over_matmul']:.2f} | {knobs(r)} |")
    out += ["", "## Hugging Face transformers eager (same GPU, same shapes)", "",
            "| shape | context | batch | TTFT s | TBT p50 ms | tokens/s |", "|---|---|---|---|---|---|"]
    for r in hf:
        out.append(f"| {r['shape']} | {r['context']} | {r['batch']} | {r['ttft_s']:.3f} | {ms(r['tbt_p50_s'])} | "
                   f"{r['tokens_per_s']:.0f} |")

    def find(**kw):
        default = [r for r in lil if not knobs(r)]
        found = [r for r in default if r["commit"] == latest and all(r.get(k) == v for k, v in kw.items())]
        if not found:
            found = [r for r in default if all(r.get(k) == v for k, v in kw.items())]
        return found[-1] if found else None

    def hf_find(shape, batch):
        found = [r for r in hf if r["shape"] == shape and r["batch"] == batch and r["context"] == 1024]
        return found[-1] if found else None

    checks = []
    for shape, limit in (("llama-8b", 1.15), ("qwen2-1.5b", 1.5), ("qwen2-moe-a2.7b", 2.0)):
        r = find(shape=shape, context=1024, batch=1, policy="full", mode="graph", controller="none")
        if r:
            checks.append((f"{shape} batch 1, 1k: TBT <= {limit}x floor", f"{r['tbt_over_floor']:.2f}x",
                           r["tbt_over_floor"] <= limit))
    for shape, factor in (("llama-8b", 15), ("qwen2-1.5b", 50), ("qwen2-moe-a2.7b", 20)):
        r, h = find(shape=shape, context=1024, batch=1, policy="full", mode="graph", controller="none"), hf_find(shape, 1)
        if r and h:
            ratio = h["tbt_p50_s"] / r["tbt_p50_s"]
            checks.append((f"{shape} batch 1: >= {factor}x lower TBT than HF eager", f"{ratio:.1f}x", ratio >= factor))
    for shape in ("llama-8b", "qwen2-1.5b", "qwen2-moe-a2.7b"):
        r = find(shape=shape, context=1024, batch=32, policy="full", mode="graph", controller="none")
        if r:
            checks.append((f"{shape} batch 32, 1k: tokens/s >= 80% of bandwidth bound",
                           f"{r['tokens_per_s_over_bound'] * 100:.0f}%", r["tokens_per_s_over_bound"] >= 0.8))
    r = find(shape="llama-8b", context=8192, batch=1)
    if r:
        checks.append(("llama-8b 8k prefill >= 60% of the bf16 matmul rate", f"{r['prefill_over_matmul'] * 100:.0f}%",
                       r["prefill_over_matmul"] >= 0.6))
    for r in [x for x in lil if x["context"] == 32768 and x["policy"] != "full"]:
        same = [x for x in lil if x["commit"] == r["commit"] and x["context"] == 32768 and x["policy"] == "full"
                and x["batch"] == r["batch"] and x["shape"] == r["shape"]]
        if same:  # against `full` measured by the same build
            full = same[-1]
            predicted = r["bytes_per_step"] / full["bytes_per_step"]
            measured = r["tbt_p50_s"] / full["tbt_p50_s"]
            checks.append((f"{r['shape']} 32k batch {r['batch']} {r['policy']} {r['budget']} ({r['commit']}): TBT ratio to full within "
                           f"1.3x of the bytes ratio {predicted:.3f}", f"{measured:.3f} ({measured / predicted:.2f}x)",
                           measured <= 1.3 * predicted))
    out += ["", f"## Targets (GPU issue), figures of commit {latest} where measured there", "",
            "| target | measured | met |", "|---|---|---|"]
    for name, value, ok in checks:
        out.append(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
