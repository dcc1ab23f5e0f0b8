#!/usr/bin/env bash
# The shipped model (models/tiny-varchain): its files are complete and small, the quickstart config that uses it
# is valid, and it still solves held-out problems of its task with full attention (greedy, batched).
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="$root/models/tiny-varchain"

for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json \
         train_config.json train_log.jsonl test.jsonl README.md DATA_CARD.md; do
  [[ -s "$model/$f" ]] || fail "models/tiny-varchain/$f is missing"
done
size_kb=$(du -sk "$model" | cut -f1)
((size_kb <= 30 * 1024)) || fail "models/tiny-varchain is ${size_kb} KB, over the 30 MB the repository allows"
[[ "$(wc -l <"$model/test.jsonl")" == 500 ]] || fail "test.jsonl should hold the 500 held-out problems"
# test.jsonl is exactly what `lil dataset synth` writes for the training config's task.
expect_exit 0 "$LIL" dataset synth --split test --n 500 --seed 2026 \
  --knobs "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["task"]["knobs"]))' "$root/configs/train-tiny.json")"
[[ "$OUT_TEXT" == "$(cat "$model/test.jsonl")" ]] || fail "models/tiny-varchain/test.jsonl differs from lil dataset synth"

expect_exit 0 "$LIL" sweep "$root/configs/quickstart.json" --out "$TMP_DIR/q.sqlite" --dry-run
expect_contains "$OUT_TEXT" "generations: 1248"

# The first 16 held-out problems, decoded together: the shipped model gets all 16 right (500 of 500 over the
# whole split); fewer than 15 means the weights, the tokenizer or the decode path changed. Guessing gets ~1.6.
args=()
while IFS= read -r q; do args+=(--prompt "$q"$'\n'); done < <(head -16 "$model/test.jsonl" | python3 -c '
import json, sys
for line in sys.stdin: print(json.loads(line)["question"])')
expect_exit 0 "$LIL" generate --model "$model" "${args[@]}" --max-new-tokens 400 --json
correct=$(printf '%s' "$OUT_TEXT" | python3 -c '
import json, re, sys
results = json.load(sys.stdin)["results"]
gold = [json.loads(l)["answer"] for l in open(sys.argv[1])][:16]
boxed = [re.findall(r"\\boxed\{([^}]*)\}", r["text"]) for r in results]
print(sum(1 for b, g in zip(boxed, gold) if b and b[-1] == g))' "$model/test.jsonl")
((correct >= 15)) || fail "the shipped model solved only $correct of the first 16 held-out problems (expected 16)"
