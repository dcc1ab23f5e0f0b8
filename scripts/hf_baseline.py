#!/usr/bin/env python3
"""Hugging Face transformers baseline for `lil bench`: the same model shapes with random weights, the same
prompt length and batch size, on the same GPU, eager `generate` (greedy, bf16), with the same JSON fields.

    python3 scripts/hf_baseline.py --shape llama-8b --context 1024 --batch 1 [32 ...] --new-tokens 64 [--json]
Several batch sizes run one after another on the same model (one JSON line each).

Per-token times are taken by a stopping criterion that synchronises the device and reads the clock after
each generated token, so TBT is the real gap between tokens, not the time of an asynchronous launch.
"""
import argparse
import json
import statistics
import time

import torch
import transformers

SHAPES = {
    "llama-8b": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                     num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                     rms_norm_eps=1e-5, rope_theta=500000.0,
                     rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                     max_position_embeddings=131072, tie_word_embeddings=False),
    "qwen2-1.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                       num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2, rms_norm_eps=1e-6,
                       rope_theta=1000000.0, max_position_embeddings=131072, tie_word_embeddings=True),
    "qwen2-moe-a2.7b": dict(model_type="qwen2_moe", vocab_size=151936, hidden_size=2048, intermediate_size=5632,
                            num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16, num_experts=60,
                            num_experts_per_tok=4, moe_intermediate_size=1408,
                            shared_expert_intermediate_size=5632, norm_topk_prob=False, rope_theta=1000000.0,
                            max_position_embeddings=8192, tie_word_embeddings=False),
}


class TokenClock(transformers.StoppingCriteria):
    def __init__(self):
        self.times = []

    def __call__(self, input_ids, scores, **kwargs):
        torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def percentile(values, q):
    values = sorted(values)
    if not values:
        return 0.0
    rank = q / 100 * (len(values) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (rank - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="qwen2-1.5b", choices=sorted(SHAPES))
    ap.add_argument("--context", type=int, default=1024)
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    config = transformers.AutoConfig.for_model(**SHAPES[args.shape])
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    for batch in args.batch:
        result = run(model, config, args, batch)
        print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()), flush=True)


def run(model, config, args, batch):
    ids = torch.randint(0, config.vocab_size, (batch, args.context), device="cuda")
    mask = torch.ones_like(ids)
    kwargs = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.no_grad():
        model.generate(ids, attention_mask=mask, max_new_tokens=4, min_new_tokens=4, **kwargs)  # warm-up
        clock = TokenClock()
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.generate(ids, attention_mask=mask, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                       stopping_criteria=transformers.StoppingCriteriaList([clock]), **kwargs)
    times = [t - start for t in clock.times]
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {
        "engine": "hf-transformers-eager", "transformers": transformers.__version__, "torch": torch.__version__,
        "shape": args.shape, "device": torch.cuda.get_device_name(), "dtype": "bfloat16", "context": args.context,
        "batch": batch, "new_tokens": args.new_tokens, "ttft_s": times[0] if times else 0.0,
        "tbt_p50_s": percentile(gaps, 50), "tbt_p99_s": percentile(gaps, 99),
        "tbt_mean_s": statistics.fmean(gaps) if gaps else 0.0,
        "tokens_per_s": batch * len(gaps) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
    }


if __name__ == "__main__":
    main()
