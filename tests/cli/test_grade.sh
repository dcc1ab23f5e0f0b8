#!/usr/bin/env bash
# lil grade: accuracy and per-record verdicts for another engine's outputs; --json, --strict; errors.
. "$(dirname "$0")/lib.sh"

pred="$TMP_DIR/pred.jsonl"
# Records 0..3 of the GSM8K sample: 75, 1,975, -7, 1. Record 3 is left out.
printf '%s\n' \
  '{"index": 0, "output": "<think>7*12=84, 84-9=75</think>The baker sells \\boxed{75} rolls."}' \
  '{"index": 1, "output": "So the library has 1975 books.\n#### 1975"}' \
  '{"index": 2, "output": "The temperature is 7 degrees."}' >"$pred"
expect_exit 0 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$OUT_TEXT" "[0] correct"
expect_contains "$OUT_TEXT" "[1] correct"
expect_contains "$OUT_TEXT" "[2] WRONG"
expect_contains "$OUT_TEXT" "accuracy: 0.6667 (2/3 graded; 1 selected records have no prediction)"

expect_exit 0 "$LIL" grade --dataset gsm8k --sample --predictions "$pred" --json
expect_contains "$OUT_TEXT" '"accuracy": 0.6666'
expect_contains "$OUT_TEXT" '"missing": 1'
expect_contains "$OUT_TEXT" '"extracted": "75"'
expect_contains "$OUT_TEXT" '"source": "hash"'

# --strict: no last-number fallback, so record 2 has no answer at all.
expect_exit 0 "$LIL" grade --dataset gsm8k --sample --predictions "$pred" --json --strict
expect_contains "$OUT_TEXT" '"extracted": null'
expect_contains "$OUT_TEXT" '"method": "no-answer"'

# Index counts from 0 after --offset: index 0 here is the real file's record 1 (AIME 2025 answer 588).
printf '%s\n' '{"index": 0, "output": "\\boxed{588}"}' '{"index": 1, "output": "\\boxed{016}"}' >"$pred"
expect_exit 0 "$LIL" grade --dataset aime25 --offset 1 --limit 2 --predictions "$pred"
expect_contains "$OUT_TEXT" "accuracy: 1.0000 (2/2 graded)"

# Errors: file and line, exit 2.
printf '%s\n' '{"index": 0, "output": "1"}' 'not json' >"$pred"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$ERR_TEXT" "pred.jsonl:2: malformed JSON"
printf '%s\n' '{"index": 0}' >"$pred"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$ERR_TEXT" "pred.jsonl:1: missing key 'output'"
printf '%s\n' '{"index": "0", "output": "1"}' >"$pred"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$ERR_TEXT" "pred.jsonl:1:"
expect_contains "$ERR_TEXT" "index"
printf '%s\n' '{"index": 9, "output": "1"}' >"$pred"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$ERR_TEXT" "pred.jsonl:1: index 9 is outside the 4 selected records"
printf '%s\n' '{"index": 0, "output": "1"}' '{"index": 0, "output": "2"}' >"$pred"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$pred"
expect_contains "$ERR_TEXT" "pred.jsonl:2: duplicate index 0 (first on line 1)"
expect_exit 2 "$LIL" grade --dataset nope --predictions "$pred"
expect_contains "$ERR_TEXT" "unknown data set"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample --predictions "$TMP_DIR/missing.jsonl"
expect_contains "$ERR_TEXT" "missing.jsonl"
expect_exit 2 "$LIL" grade --dataset gsm8k --sample
echo "ok"
