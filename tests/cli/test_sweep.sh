#!/usr/bin/env bash
# End to end on configs/ci-smoke.json: dry run, sweep, resume after kill -9, report, compare, merge,
# and config validation errors (exit 2, every problem listed).
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
config="$root/configs/ci-smoke.json"
db="$TMP_DIR/smoke.sqlite"

expect_exit 0 "$LIL" sweep "$config" --dry-run
expect_contains "$OUT_TEXT" "generations: 40"

expect_exit 0 "$LIL" sweep "$config" --out "$db" --quiet
rows=$(sqlite3 "$db" "SELECT COUNT(*) FROM results WHERE error IS NULL OR error = ''")
[[ "$rows" == 40 ]] || fail "expected 40 rows, got $rows"
# The length cap: no sparse row may run longer than 2x the full-attention row of its problem.
over=$(sqlite3 "$db" "SELECT COUNT(*) FROM results r JOIN results f ON f.model=r.model AND f.dataset=r.dataset
  AND f.record_id=r.record_id AND f.sample=r.sample AND f.policy='full' AND f.controller='none'
  WHERE r.output_tokens > 2 * f.output_tokens")
[[ "$over" == 0 ]] || fail "$over rows exceed the 2x length cap"
# Every sparse row attended at most its budget.
viol=$(sqlite3 "$db" "SELECT COUNT(*) FROM results WHERE policy != 'full' AND kv_attended_mean_tokens > budget")
[[ "$viol" == 0 ]] || fail "$viol rows attended more than the budget"
sqlite3 "$db" "SELECT config_hash, git_commit, libtorch_version, status FROM runs" | grep -q finished || fail "run not finished"

# Re-running the same config on the same database does no new work and changes nothing.
before=$(sqlite3 "$db" "SELECT unit_key, output_text, correct FROM results ORDER BY unit_key" | md5sum)
expect_exit 0 "$LIL" sweep "$config" --out "$db" --resume --quiet
after=$(sqlite3 "$db" "SELECT unit_key, output_text, correct FROM results ORDER BY unit_key" | md5sum)
[[ "$before" == "$after" ]] || fail "resume changed finished rows"

# kill -9 as soon as the first batch is committed, then --resume: same final table as an uninterrupted run.
# (A longer variant of the smoke config, so the kill lands mid-sweep.)
sed -e 's/"max_new_tokens": 24/"max_new_tokens": 96/' -e "s|\.\./tests/fixtures|$root/tests/fixtures|" "$config" > "$TMP_DIR/long.json"
db_full="$TMP_DIR/long_uninterrupted.sqlite"
expect_exit 0 "$LIL" sweep "$TMP_DIR/long.json" --out "$db_full" --quiet
db2="$TMP_DIR/killed.sqlite"
"$LIL" sweep "$TMP_DIR/long.json" --out "$db2" --quiet &
pid=$!
partial=0
for _ in $(seq 1 400); do
  partial=$(sqlite3 "$db2" "SELECT COUNT(*) FROM results" 2>/dev/null || echo 0)
  [[ "$partial" -gt 0 ]] && break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
partial=$(sqlite3 "$db2" "SELECT COUNT(*) FROM results")
[[ "$partial" -gt 0 && "$partial" -lt 40 ]] || fail "kill did not land mid-sweep ($partial rows)"
(( partial % 4 == 0 )) || fail "a partial batch was committed ($partial rows, batch size 4)"
expect_exit 0 "$LIL" sweep "$TMP_DIR/long.json" --out "$db2" --resume --quiet
a=$(sqlite3 "$db_full" "SELECT unit_key, output_tokens, output_text, stop_reason FROM results ORDER BY unit_key" | md5sum)
b=$(sqlite3 "$db2" "SELECT unit_key, output_tokens, output_text, stop_reason FROM results ORDER BY unit_key" | md5sum)
[[ "$a" == "$b" ]] || fail "resumed database differs from the uninterrupted one (rows before kill: $partial)"

# A second writer is refused while the first holds the database.
exec 9>"$db.lock"
flock -n 9 || fail "could not take the lock for the test"
expect_exit 2 "$LIL" sweep "$config" --out "$db" --quiet
expect_contains "$ERR_TEXT" "another lil process is writing this database"
exec 9>&-

# Reports in every format.
expect_exit 0 "$LIL" report "$db" --format md
expect_contains "$OUT_TEXT" "| policy | budget | controller |"
expect_contains "$OUT_TEXT" "sink"
expect_exit 0 "$LIL" report "$db" --format csv
expect_contains "$OUT_TEXT" "model,dataset,policy,budget"
expect_exit 0 "$LIL" report "$db" --format json --out "$TMP_DIR/report"
[[ -s "$TMP_DIR/report/report.tex" && -s "$TMP_DIR/report/report.md" ]] || fail "report files missing"
expect_exit 2 "$LIL" report "$db" --format html
expect_exit 0 "$LIL" report "$db" --plots "$TMP_DIR/plots"
for f in accuracy_length jct controller; do
  [[ -s "$TMP_DIR/plots/${f}_tiny-qwen2_gsm8k-sample.png" && -s "$TMP_DIR/plots/${f}_tiny-qwen2_gsm8k-sample.pdf" ]] \
    || fail "plot $f missing"
done

# Compare: identical databases pass; a tampered one regresses (exit 1).
# Timings of two runs differ by machine load; this comparison is about content, so JCT is not judged here.
echo '{"jct_rel": 1000}' > "$TMP_DIR/tolerance.json"
expect_exit 0 "$LIL" compare "$db_full" "$db2" --json --tolerance-file "$TMP_DIR/tolerance.json"
expect_contains "$OUT_TEXT" '"regressed_cells": 0'
cp "$db" "$TMP_DIR/worse.sqlite"
sqlite3 "$TMP_DIR/worse.sqlite" "UPDATE results SET output_tokens = output_tokens * 3 WHERE policy = 'sink'"
expect_exit 1 "$LIL" compare "$db" "$TMP_DIR/worse.sqlite" --tolerance-file "$TMP_DIR/tolerance.json"
expect_contains "$OUT_TEXT" "output length grew"

# Validation: every problem of a bad config at once, exit 2, nothing written.
cat > "$TMP_DIR/bad.json" <<'JSON'
{"models": [{"path": "/nonexistent/model"}], "datasets": [{"kind": "nosuchset"}],
 "policies": [{"name": "magic", "budgets": [64]}, {"name": "sink", "budgets": [0]}], "batch_size": -1, "colour": "red"}
JSON
expect_exit 2 "$LIL" sweep "$TMP_DIR/bad.json" --out "$TMP_DIR/bad.sqlite"
expect_contains "$ERR_TEXT" "models[0].path"
expect_contains "$ERR_TEXT" "unknown data set 'nosuchset'"
expect_contains "$ERR_TEXT" "unknown policy 'magic'"
expect_contains "$ERR_TEXT" "budgets"
expect_contains "$ERR_TEXT" "batch_size"
expect_contains "$ERR_TEXT" "colour"
[[ ! -e "$TMP_DIR/bad.sqlite" ]] || fail "a database was written for an invalid config"

# A foreign SQLite file is refused, not overwritten.
sqlite3 "$TMP_DIR/foreign.sqlite" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
expect_exit 2 "$LIL" sweep "$config" --out "$TMP_DIR/foreign.sqlite" --quiet
expect_contains "$ERR_TEXT" "not a lil results database"
[[ "$(sqlite3 "$TMP_DIR/foreign.sqlite" 'SELECT x FROM t')" == 1 ]] || fail "foreign database was modified"
echo "sweep CLI tests passed"
