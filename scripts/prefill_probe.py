#!/usr/bin/env python3
"""Where an 8k prefill of the Llama-8B shape spends its time, op by op, in the GPU machine's PyTorch: each
GEMM of a layer at M = T tokens and the causal attention under each SDPA backend (with GQA and with the KV heads
expanded), as TFLOP/s and ms. One JSON object per line on stdout (scripts/gpu_session.sh prefill-probe)."""
import argparse
import json

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn, reps):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--inter", type=int, default=14336)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--reps", type=int, default=10)
    a = p.parse_args()
    dev, dt = "cuda", torch.bfloat16
    t, h, d = a.tokens, a.hidden, a.head_dim
    name = torch.cuda.get_device_name()
    def emit(op, ms, flops):
        print(json.dumps({"probe": "prefill", "gpu": name, "torch": torch.__version__, "op": op, "tokens": t,
                          "ms": round(ms, 4), "TFLOPs": round(flops / ms / 1e9, 1)}), flush=True)
    n = 8192
    x, y = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
    emit("matmul 8192^3", time_ms(lambda: x @ y, a.reps), 2 * n**3)
    act = torch.randn(t, h, device=dev, dtype=dt)
    for op, out_f, in_f in (("qkv", (a.heads + 2 * a.kv_heads) * d, h), ("o_proj", h, a.heads * d),
                            ("gate_up", 2 * a.inter, h), ("down", h, a.inter)):
        w = torch.randn(out_f, in_f, device=dev, dtype=dt)
        xin = act if in_f == h else torch.randn(t, in_f, device=dev, dtype=dt)
        emit(op, time_ms(lambda: F.linear(xin, w), a.reps), 2 * t * out_f * in_f)
    q = torch.randn(1, a.heads, t, d, device=dev, dtype=dt)
    k = torch.randn(1, a.kv_heads, t, d, device=dev, dtype=dt)
    v = torch.randn(1, a.kv_heads, t, d, device=dev, dtype=dt)
    group = a.heads // a.kv_heads
    ke, ve = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    flops = 4 * (t * (t + 1) / 2) * a.heads * d
    emit("attention default gqa", time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), a.reps), flops)
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        for label, kk, vv, gqa in (("gqa", k, v, True), ("expanded", ke, ve, False)):
            try:
                with sdpa_kernel([backend]):
                    ms = time_ms(lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=gqa), a.reps)
                emit(f"attention {backend.name} {label}", ms, flops)
            except Exception as e:  # a backend that does not take this case
                print(json.dumps({"probe": "prefill", "op": f"attention {backend.name} {label}", "error": str(e)[:200]}), flush=True)


if __name__ == "__main__":
    main()
