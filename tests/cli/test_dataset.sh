#!/usr/bin/env bash
# lil dataset list | show: kinds, records from the real files and the built-in samples, selection, errors.
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$LIL" dataset list
for kind in gsm8k math500 aime24 aime25 amc23 jsonl; do expect_contains "$OUT_TEXT" "$kind"; done
expect_contains "$OUT_TEXT" "grading=integer"

expect_exit 0 "$LIL" dataset show gsm8k --limit 2
expect_contains "$OUT_TEXT" "=== [0] id: 0"
expect_contains "$OUT_TEXT" "--- gold answer: 18"
expect_contains "$OUT_TEXT" "=== [1] id: 1"
[[ "$OUT_TEXT" != *"[2]"* ]] || fail "--limit 2 printed a third record"
expect_contains "$ERR_TEXT" "2 records from"

expect_exit 0 "$LIL" dataset show math500 --offset 499 --json
[[ "$(printf '%s\n' "$OUT_TEXT" | wc -l)" == 1 ]] || fail "expected one JSON line, got: $OUT_TEXT"
expect_contains "$OUT_TEXT" '"index":499'
expect_contains "$OUT_TEXT" '"id":"test/'

expect_exit 0 "$LIL" dataset show aime25 --sample
expect_contains "$OUT_TEXT" "Find the sum of the digits of \$2^{12}\$."
[[ "$OUT_TEXT" != *"Please reason step by step"* ]] || fail "aime25 instruction suffix not stripped"

printf '%s\n' '{"q": "What is 6*7?", "a": 42}' '{"q": "What is 1+1?", "a": "2"}' >"$TMP_DIR/mine.jsonl"
expect_exit 0 "$LIL" dataset show jsonl --data "$TMP_DIR/mine.jsonl" --question-field q --answer-field a --json
expect_contains "$OUT_TEXT" '"gold_answer":"42"'
expect_contains "$OUT_TEXT" '"id":"1"'

# Errors: exit 2 with the file and line, or the list of kinds.
expect_exit 2 "$LIL" dataset show gsm9k
expect_contains "$ERR_TEXT" "unknown data set; known kinds: gsm8k"
printf '%s\n' '{"question": "q", "answer": "a"}' '{"question": "q"' >"$TMP_DIR/bad.jsonl"
expect_exit 2 "$LIL" dataset show jsonl --data "$TMP_DIR/bad.jsonl"
expect_contains "$ERR_TEXT" "bad.jsonl:2: malformed JSON"
printf '%s\n' '{"question": "q", "answer": "no marker"}' >"$TMP_DIR/gsm.jsonl"
expect_exit 2 "$LIL" dataset show gsm8k --data "$TMP_DIR/gsm.jsonl"
expect_contains "$ERR_TEXT" "gsm.jsonl:1: field 'answer': expected the final answer after '#### '"
expect_exit 2 "$LIL" dataset show jsonl
expect_contains "$ERR_TEXT" "has no default file"
expect_exit 2 "$LIL" dataset show gsm8k --offset -1
expect_contains "$ERR_TEXT" "offset"
expect_exit 2 "$LIL" dataset
echo "ok"
