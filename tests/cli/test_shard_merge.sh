#!/usr/bin/env bash
# lil sweep --shard and lil merge without Slurm, on configs/ci-smoke.json: the shards partition the grid
# (balanced, every problem whole), their merge equals a single-process run, overlaps and foreign configs
# are refused, a missing shard or failed unit is reported (exit 3), and a failed shard resumes.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
config="$root/configs/ci-smoke.json"

# Everything but timings, memory and the run id: what a rerun with greedy decoding must reproduce.
results_digest() {
  sqlite3 "$1" "SELECT unit_key, cell_key, prompt_tokens, output_tokens, output_text, answer_text, token_ids,
    stop_reason, stop_step, extracted_answer, correct, max_new_tokens, cap_source, error FROM results ORDER BY unit_key"
}

# Bad shard specifications.
expect_exit 2 "$LIL" sweep "$config" --shard 4/4 --dry-run
expect_contains "$ERR_TEXT" "--shard"
expect_exit 2 "$LIL" sweep "$config" --shard one/4 --dry-run
expect_contains "$ERR_TEXT" "expected a whole number, got 'one'"
expect_exit 2 "$LIL" sweep "$config" --shard 4 --dry-run
expect_contains "$ERR_TEXT" "expected I/N"
expect_exit 2 "$LIL" sweep "$config" --shard 1/100000000000 --dry-run
expect_contains "$ERR_TEXT" "at most"
expect_exit 2 env SLURM_ARRAY_TASK_ID=x SLURM_ARRAY_TASK_COUNT=4 "$LIL" sweep "$config" --shard auto --dry-run
expect_contains "$ERR_TEXT" "SLURM_ARRAY_TASK_ID: expected a whole number"
expect_exit 2 env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT "$LIL" sweep "$config" --shard auto --dry-run
expect_contains "$ERR_TEXT" "SLURM_ARRAY_TASK_ID"

# The partition: 4 problems x 10 cells over 4 shards, balanced by expected tokens (the smoke problems are
# of similar length, so one problem each), and every problem whole in one shard.
total=0
for i in 0 1 2 3; do
  expect_exit 0 "$LIL" sweep "$config" --shard "$i/4" --dry-run
  expect_contains "$OUT_TEXT" "shard $i/4: expected tokens"
  n=$(sed -n 's/^generations: //p' <<<"$OUT_TEXT")
  [[ "$n" == 10 ]] || fail "shard $i/4 has $n generations, expected 10 (one problem, all 10 cells)"
  total=$((total + n))
done
[[ "$total" == 40 ]] || fail "shards cover $total generations, expected 40"
# Two shards: two problems each.
for i in 0 1; do
  expect_exit 0 "$LIL" sweep "$config" --shard "$i/2" --dry-run
  expect_contains "$OUT_TEXT" "generations: 20"
done
# --shard auto reads the array task (relative to the array's first index) and the task count.
expect_exit 0 "$LIL" sweep "$config" --shard 1/4 --dry-run
by_hand="$OUT_TEXT"
expect_exit 0 env SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=4 "$LIL" sweep "$config" --shard auto --dry-run
[[ "$OUT_TEXT" == "$by_hand" ]] || fail "--shard auto (task 5 of 4..7) differs from --shard 1/4"

# Single process vs four shards merged.
single="$TMP_DIR/single.sqlite"
expect_exit 0 "$LIL" sweep "$config" --out "$single" --quiet
for i in 0 1 2 3; do
  expect_exit 0 "$LIL" sweep "$config" --shard "$i/4" --out "$TMP_DIR/shard$i.sqlite" --quiet
  # Each shard holds whole problems: all 10 cells of every problem it ran, full attention included.
  partial=$(sqlite3 "$TMP_DIR/shard$i.sqlite" "SELECT COUNT(*) FROM (SELECT record_id FROM results GROUP BY record_id
    HAVING COUNT(*) != 10 OR SUM(policy = 'full' AND controller = 'none') != 1)")
  [[ "$partial" == 0 ]] || fail "shard $i splits a problem across shards"
  sqlite3 "$TMP_DIR/shard$i.sqlite" "SELECT shard FROM runs" | grep -qx "$i/4" || fail "shard $i not recorded in runs"
done
merged="$TMP_DIR/merged.sqlite"
expect_exit 0 "$LIL" merge "$merged" "$TMP_DIR"/shard{0,1,2,3}.sqlite
expect_contains "$OUT_TEXT" "merged 40 rows from 4 database(s)"
[[ "$(results_digest "$merged")" == "$(results_digest "$single")" ]] || fail "merged shards differ from the single-process run"
[[ "$(sqlite3 "$merged" "SELECT unit_key FROM planned_units ORDER BY 1")" == \
   "$(sqlite3 "$single" "SELECT unit_key FROM planned_units ORDER BY 1")" ]] || fail "merged plan differs from the single run's"
sqlite3 "$merged" "SELECT status FROM runs" | grep -qx merged || fail "merged run not marked merged"
# The merged database is an ordinary results database.
expect_exit 0 "$LIL" report "$merged" --format csv
expect_contains "$OUT_TEXT" "model,dataset,policy,budget"

# The output must be new; a shard given twice overlaps.
expect_exit 2 "$LIL" merge "$merged" "$TMP_DIR/shard0.sqlite"
expect_contains "$ERR_TEXT" "already exists"
cp "$TMP_DIR/shard0.sqlite" "$TMP_DIR/shard0-copy.sqlite"
expect_exit 2 "$LIL" merge "$TMP_DIR/overlap.sqlite" "$TMP_DIR/shard0.sqlite" "$TMP_DIR/shard0-copy.sqlite"
expect_contains "$ERR_TEXT" "overlaps"
[[ ! -e "$TMP_DIR/overlap.sqlite" ]] || fail "a refused merge left an output database"
# Shards of another config are refused.
sed -e 's/"max_new_tokens": 24/"max_new_tokens": 20/' -e "s|\.\./tests/fixtures|$root/tests/fixtures|" "$config" > "$TMP_DIR/other.json"
expect_exit 0 "$LIL" sweep "$TMP_DIR/other.json" --shard 1/4 --out "$TMP_DIR/other1.sqlite" --quiet
expect_exit 2 "$LIL" merge "$TMP_DIR/foreign.sqlite" "$TMP_DIR/shard0.sqlite" "$TMP_DIR/other1.sqlite"
expect_contains "$ERR_TEXT" "another sweep config"
# Shards of different partitions (1/4 and 1/2) do not add up to one grid.
expect_exit 0 "$LIL" sweep "$config" --shard 1/2 --out "$TMP_DIR/half1.sqlite" --quiet
expect_exit 2 "$LIL" merge "$TMP_DIR/mixed.sqlite" "$TMP_DIR/shard0.sqlite" "$TMP_DIR/half1.sqlite"
expect_contains "$ERR_TEXT" "partition"
# A shard database is tied to its shard.
expect_exit 2 "$LIL" sweep "$config" --shard 2/4 --out "$TMP_DIR/shard1.sqlite" --quiet
expect_contains "$ERR_TEXT" "holds shard '1/4'"

# A missing shard is named (exit 3), and the merge still writes what it has.
expect_exit 3 "$LIL" merge "$TMP_DIR/three.sqlite" "$TMP_DIR"/shard{0,1,3}.sqlite
expect_contains "$OUT_TEXT" "missing shard 2/4"
expect_contains "$OUT_TEXT" "incomplete"

# A shard whose sparse cells failed (an injected out-of-memory): merge reports the failed units (exit 3);
# rerunning that shard alone resumes it, and then the merge equals the single-process run.
LIL_FAULT_INJECT=oom:sink expect_exit 0 "$LIL" sweep "$config" --shard 2/4 --out "$TMP_DIR/failing2.sqlite" --quiet
failed=$(sqlite3 "$TMP_DIR/failing2.sqlite" "SELECT COUNT(*) FROM results WHERE error != ''")
[[ "$failed" == 4 ]] || fail "expected the 4 sink units of shard 2 to fail, got $failed"
expect_exit 3 "$LIL" merge "$TMP_DIR/with-failures.sqlite" "$TMP_DIR"/shard{0,1}.sqlite "$TMP_DIR/failing2.sqlite" "$TMP_DIR/shard3.sqlite"
expect_contains "$OUT_TEXT" "missing unit tiny-qwen2|gsm8k-sample|sink|16"
expect_contains "$OUT_TEXT" "(failed: out of memory"
expect_exit 0 "$LIL" sweep "$config" --shard 2/4 --out "$TMP_DIR/failing2.sqlite" --resume --quiet
expect_exit 0 "$LIL" merge "$TMP_DIR/resumed.sqlite" "$TMP_DIR"/shard{0,1}.sqlite "$TMP_DIR/failing2.sqlite" "$TMP_DIR/shard3.sqlite"
[[ "$(results_digest "$TMP_DIR/resumed.sqlite")" == "$(results_digest "$single")" ]] || fail "resumed shard merge differs from the single-process run"
echo "ok"
