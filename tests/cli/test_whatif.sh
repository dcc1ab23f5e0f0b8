#!/usr/bin/env bash
# lil whatif: predictions from uncontrolled rows must equal real controlled runs (greedy, same fixture):
# same stop step and same tokens up to the stop. Also the grid table and bad input.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cat > "$TMP_DIR/wi.json" <<JSON
{"name": "whatif-check",
 "models": [{"name": "tiny-qwen2", "path": "$root/tests/fixtures/models/tiny-qwen2", "template": "qwen-chatml", "dtype": "float32"}],
 "datasets": [{"name": "gsm8k-sample", "kind": "gsm8k", "sample": true, "limit": 4}],
 "policies": [{"name": "full"}, {"name": "sink", "budgets": [16]}],
 "controllers": [{"name": "none"}, {"name": "guardian", "args": {"f": 16, "t": 40, "device": "cpu"}},
                 {"name": "guardian", "args": {"f": 16, "t": 24, "device": "cpu"}}, {"name": "ngram_repetition", "args": {"n": 2, "repeats": 2, "window": 64}}],
 "max_new_tokens": 96, "batch_size": 2}
JSON
db="$TMP_DIR/wi.sqlite"
expect_exit 0 "$LIL" sweep "$TMP_DIR/wi.json" --out "$db" --quiet
stopped=$(sqlite3 "$db" "SELECT COUNT(*) FROM results WHERE stop_reason = 'controller'")
[[ "$stopped" -gt 0 ]] || fail "no controller fired, so the verification would prove nothing"
expect_exit 0 "$LIL" whatif "$db" --controller guardian --verify
expect_contains "$OUT_TEXT" "equal the real controlled runs"
expect_exit 0 "$LIL" whatif "$db" --controller ngram_repetition --verify
expect_exit 0 "$LIL" whatif "$db" --controller guardian --grid f=16,32 t=16,40 --controller-arg device=cpu --csv "$TMP_DIR/wi.csv"
expect_contains "$OUT_TEXT" "tokens saved"
[[ $(wc -l < "$TMP_DIR/wi.csv") -eq 9 ]] || fail "expected 8 settings x cells in the CSV"
expect_exit 2 "$LIL" whatif "$db" --controller entropy_plateau
expect_contains "$ERR_TEXT" "logits"
expect_exit 2 "$LIL" whatif "$db" --controller nosuch
expect_exit 2 "$LIL" whatif "$TMP_DIR/missing.sqlite" --controller guardian
echo "whatif CLI tests passed"
