#!/usr/bin/env python3
"""Plots for a lil results database (called by `lil report --plots DIR`).

    python3 scripts/plot.py RESULTS.sqlite OUT_DIR

Writes, per model x data set, PNG and PDF figures sized for a paper column (3.4 in wide):
  accuracy_length_<model>_<dataset>  accuracy and output length vs KV budget per policy (the study's Fig. 1)
  jct_<model>_<dataset>              JCT vs budget, split into TTFT and decode time
  controller_<model>_<dataset>       token savings and accuracy change of each controller
Only rows without an error are used; full attention is drawn as a dashed reference line.
"""
import collections
import os
import re
import sqlite3
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"font.size": 7, "axes.titlesize": 7, "legend.fontsize": 6, "figure.dpi": 200})
COLUMN_WIDTH_IN = 3.4


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def load(db_path):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT model, dataset, policy, budget, controller, correct, output_tokens, ttft_s, jct_s "
        "FROM results WHERE error IS NULL OR error = ''").fetchall()
    con.close()
    cells = collections.defaultdict(list)
    for model, dataset, policy, budget, controller, correct, tokens, ttft, jct in rows:
        cells[(model, dataset, policy, budget, controller)].append((correct, tokens, ttft, jct))
    summary = {}
    for key, values in cells.items():
        n = len(values)
        summary[key] = {
            "n": n,
            "accuracy": 100.0 * sum(v[0] for v in values) / n,
            "tokens": sum(v[1] for v in values) / n,
            "ttft": sum(v[2] for v in values) / n,
            "jct": sum(v[3] for v in values) / n,
        }
    return summary


def save(fig, out_dir, name):
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out_dir, f"{name}.{ext}"), bbox_inches="tight")
    plt.close(fig)


def plot_pair(summary, model, dataset, out_dir):
    keys = [k for k in summary if k[0] == model and k[1] == dataset]
    full = summary.get((model, dataset, "full", 0, "none"))
    policies = sorted({k[2] for k in keys if k[2] != "full" and k[4] == "none"})
    written = []
    if policies:
        fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH_IN, 1.6))
        for metric, ax, label in ((("accuracy"), axes[0], "accuracy (%)"), ("tokens", axes[1], "output tokens")):
            for policy in policies:
                pts = sorted((k[3], summary[k][metric]) for k in keys if k[2] == policy and k[4] == "none")
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=2.5, linewidth=1, label=policy)
            if full:
                ax.axhline(full[metric], color="black", linestyle="--", linewidth=0.8, label="full")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("KV budget (tokens)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[1].legend(loc="best", frameon=False)
        fig.subplots_adjust(wspace=0.5)
        fig.suptitle(f"{model} / {dataset}", y=1.02)
        name = f"accuracy_length_{slug(model)}_{slug(dataset)}"
        save(fig, out_dir, name)
        written.append(name)

        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 1.8))
        labels, ttft, decode = [], [], []
        if full:
            labels.append("full")
            ttft.append(full["ttft"])
            decode.append(full["jct"] - full["ttft"])
        for policy in policies:
            for k in sorted((k for k in keys if k[2] == policy and k[4] == "none"), key=lambda k: k[3]):
                labels.append(f"{policy}\n{k[3]}")
                ttft.append(summary[k]["ttft"])
                decode.append(summary[k]["jct"] - summary[k]["ttft"])
        xs = range(len(labels))
        ax.bar(xs, ttft, label="TTFT", color="#888888")
        ax.bar(xs, decode, bottom=ttft, label="decode", color="#3b75af")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=5)
        ax.set_ylabel("JCT (s)")
        ax.legend(frameon=False)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"{model} / {dataset}: job completion time")
        name = f"jct_{slug(model)}_{slug(dataset)}"
        save(fig, out_dir, name)
        written.append(name)

    controllers = sorted({k[4] for k in keys if k[4] != "none"})
    if controllers:
        fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH_IN, 1.6))
        for controller in controllers:
            labels, saved, acc = [], [], []
            for k in sorted((k for k in keys if k[4] == controller), key=lambda k: (k[2], k[3])):
                base = summary.get((k[0], k[1], k[2], k[3], "none"))
                if not base or base["tokens"] == 0:
                    continue
                labels.append(k[2] if k[2] == "full" else f"{k[2]}@{k[3]}")
                saved.append(100.0 * (1 - summary[k]["tokens"] / base["tokens"]))
                acc.append(summary[k]["accuracy"] - base["accuracy"])
            xs = range(len(labels))
            axes[0].bar(xs, saved, label=controller)
            axes[1].bar(xs, acc, label=controller)
            for ax in axes:
                ax.set_xticks(list(xs))
                ax.set_xticklabels(labels, rotation=90, fontsize=5)
        fig.subplots_adjust(wspace=0.5)
        axes[0].set_ylabel("tokens saved (%)")
        axes[1].set_ylabel("accuracy change (pts)")
        axes[1].axhline(0, color="black", linewidth=0.6)
        axes[0].legend(frameon=False)
        fig.suptitle(f"{model} / {dataset}: early stop", y=1.02)
        name = f"controller_{slug(model)}_{slug(dataset)}"
        save(fig, out_dir, name)
        written.append(name)
    return written


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    db_path, out_dir = sys.argv[1], sys.argv[2]
    if not os.path.exists(db_path):
        sys.exit(f"{db_path}: results database not found")
    os.makedirs(out_dir, exist_ok=True)
    summary = load(db_path)
    pairs = sorted({(k[0], k[1]) for k in summary})
    written = []
    for model, dataset in pairs:
        written += plot_pair(summary, model, dataset, out_dir)
    print(f"[lil] wrote {len(written)} figures (PNG and PDF) to {out_dir}")


if __name__ == "__main__":
    main()
