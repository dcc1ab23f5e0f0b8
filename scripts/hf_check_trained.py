#!/usr/bin/env python3
"""Checks that Hugging Face transformers reads a checkpoint written by `lil train` as lil does.

For the first N problems of a JSONL file (default: the shipped model's test split) it renders the prompt as
the `varchain` template does (BOS, question, newline), then compares, problem by problem:
  - the token ids of the prompt: `tokenizers` (through AutoTokenizer) vs `lil tokenize`;
  - greedy generation: transformers `generate` (float32) vs `lil generate --json` (float32, full attention):
    the generated ids must be identical and the per-token log-probabilities within --tolerance.
Prints one line per problem and a summary; exits 1 on any mismatch. Meant for the GPU machine (or any
machine with torch + transformers): python3 scripts/hf_check_trained.py [--model models/tiny-varchain]
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(root, "models", "tiny-varchain"))
    parser.add_argument("--data", default=None, help="JSONL with 'question' (default: MODEL/test.jsonl)")
    parser.add_argument("--n", type=int, default=16, help="problems to compare")
    parser.add_argument("--max-new-tokens", type=int, default=400)
    parser.add_argument("--lil", default=os.environ.get("LIL", os.path.join(root, "build", "lil")))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device for transformers (lil runs on CPU, float32)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest allowed log-prob difference")
    args = parser.parse_args()
    data = args.data or os.path.join(args.model, "test.jsonl")

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).to(args.device).eval()
    eos = model.generation_config.eos_token_id

    with open(data, encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()][: args.n]
    failures = 0
    for index, problem in enumerate(problems):
        prompt = tokenizer.bos_token + problem["question"] + "\n"
        hf_prompt = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        lil_out = json.loads(subprocess.run(
            [args.lil, "generate", "--model", args.model, "--prompt", prompt, "--raw-prompt", "--dtype", "float32",
             "--max-new-tokens", str(args.max_new_tokens), "--json"],
            check=True, capture_output=True, text=True).stdout)
        with torch.no_grad():
            out = model.generate(torch.tensor([hf_prompt], device=args.device), max_new_tokens=args.max_new_tokens,
                                 do_sample=False, eos_token_id=eos, pad_token_id=eos, output_scores=True,
                                 return_dict_in_generate=True)
        hf_ids = out.sequences[0, len(hf_prompt):].tolist()
        hf_logprobs = [torch.log_softmax(score[0].float(), -1)[token].item() for score, token in zip(out.scores, hf_ids)]
        same_prompt = hf_prompt == lil_out["prompt_ids"]
        same_ids = hf_ids == lil_out["token_ids"]
        worst = max((abs(a - b) for a, b in zip(hf_logprobs, lil_out["logprobs"])), default=0.0)
        ok = same_prompt and same_ids and worst <= args.tolerance
        failures += not ok
        print(f"[{index}] {'ok  ' if ok else 'FAIL'} prompt ids {'same' if same_prompt else 'DIFFER'}, "
              f"{len(hf_ids)} generated ids {'same' if same_ids else 'DIFFER'}, max |logprob diff| {worst:.2e}, "
              f"text {tokenizer.decode(hf_ids, skip_special_tokens=True)[-24:]!r}")
    print(f"{len(problems) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
