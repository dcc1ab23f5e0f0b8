#!/usr/bin/env bash
# The same greedy sweep (configs/ci-smoke.json) run twice on one machine gives identical outputs: tokens,
# text, stop points, caps, grading and every controller decision. Timings are the only columns left out.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
config="$root/configs/ci-smoke.json"

outputs() {
  sqlite3 "$1" "SELECT unit_key, prompt_tokens, output_tokens, token_ids, output_text, answer_text, stop_reason, stop_step,
    max_new_tokens, cap_source, extracted_answer, correct, IFNULL(error, ''), kv_resident_mean_tokens, kv_attended_mean_tokens,
    (SELECT group_concat(json_extract(value, '\$.step') || ':' || json_extract(value, '\$.signal') || ':' ||
                         json_extract(value, '\$.fired'), ',') FROM json_each(controller_checks))
    FROM results ORDER BY unit_key"
}

expect_exit 0 "$LIL" sweep "$config" --out "$TMP_DIR/first.sqlite" --quiet
expect_exit 0 "$LIL" sweep "$config" --out "$TMP_DIR/second.sqlite" --quiet
outputs "$TMP_DIR/first.sqlite" > "$TMP_DIR/first.txt"
outputs "$TMP_DIR/second.sqlite" > "$TMP_DIR/second.txt"
rows=$(wc -l < "$TMP_DIR/first.txt")
[[ "$rows" -gt 0 ]] || fail "the sweep wrote no rows"
[[ "$(sqlite3 "$TMP_DIR/first.sqlite" "SELECT COUNT(*) FROM results WHERE token_ids IS NULL OR token_ids = '[]'")" == 0 ]] ||
  fail "rows without generated tokens: nothing to compare"
diff "$TMP_DIR/first.txt" "$TMP_DIR/second.txt" > "$TMP_DIR/diff.txt" ||
  fail "two runs of the same greedy sweep differ: $(head -c 2000 "$TMP_DIR/diff.txt")"
echo "determinism: $rows rows identical across two runs"
