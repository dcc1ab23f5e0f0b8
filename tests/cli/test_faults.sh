#!/usr/bin/env bash
# Fault injection on sweeps (CPU, the random-weight tiny-qwen2 fixture): kill -9 at random points then
# --resume, a full disk (RLIMIT_FSIZE), corrupted and foreign databases, SIGINT, an injected GPU
# out-of-memory error, and resource limits (a prompt far beyond max_position_embeddings). Every recovery
# is checked against an uninterrupted run of the same config: same rows, none lost, duplicated or partial.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
trials="${LIL_FAULT_TRIALS:-20}"

# 3 cells x 4 problems, batches of 2: six commits to land a kill between. The length cap makes resumed
# sparse cells depend on full-attention rows written by an earlier (killed) process.
config="$TMP_DIR/faults.json"
cat > "$config" <<JSON
{
  "name": "faults",
  "models": [{"name": "tiny-qwen2", "path": "$root/tests/fixtures/models/tiny-qwen2", "template": "qwen-chatml",
              "dtype": "float32", "device": "cpu"}],
  "datasets": [{"name": "gsm8k-sample", "kind": "gsm8k", "sample": true, "limit": 4}],
  "policies": [{"name": "full"}, {"name": "sink", "budgets": [16], "args": {"n_sink": 4}}, {"name": "h2o", "budgets": [32]}],
  "controllers": [{"name": "none"}],
  "sampling": {"temperature": 0},
  "max_new_tokens": 40,
  "length_cap": {"enabled": true, "multiple": 2.0},
  "batch_size": 2
}
JSON
total=12
batch=2
# Everything a run decides (not timings): equal digests mean the same final table.
digest() {
  sqlite3 "$1" "SELECT unit_key, cell_key, output_tokens, output_text, token_ids, answer_text, stop_reason, stop_step,
    extracted_answer, correct, max_new_tokens, cap_source, prompt_tokens, IFNULL(error, '') FROM results ORDER BY unit_key" | md5sum
}
rows() { sqlite3 "$1" "SELECT COUNT(*) FROM results" 2>/dev/null || echo 0; }
# wait_rows DB N PID: polls until DB holds at least N rows or PID exits.
wait_rows() {
  for _ in $(seq 1 1500); do
    [[ "$(rows "$1")" -ge "$2" ]] && return 0
    kill -0 "$3" 2>/dev/null || return 0
    sleep 0.01
  done
}

reference="$TMP_DIR/reference.sqlite"
expect_exit 0 "$LIL" sweep "$config" --out "$reference" --quiet
[[ "$(rows "$reference")" == "$total" ]] || fail "reference run wrote $(rows "$reference") rows, expected $total"
want="$(digest "$reference")"

# ---- kill -9 at random points, then --resume ----
# Each trial waits for a random number of committed rows (0..total), then a random 0-300 ms more, so kills
# land before the database exists, between commits and inside batches.
mid_sweep=0
for trial in $(seq 1 "$trials"); do
  db="$TMP_DIR/killed-$trial.sqlite"
  "$LIL" sweep "$config" --out "$db" --quiet 2>/dev/null &
  pid=$!
  wait_rows "$db" $((RANDOM % (total + 1))) "$pid"
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  partial="$(rows "$db")"
  (( partial % batch == 0 )) || fail "trial $trial: a partial batch was committed ($partial rows)"
  (( partial > 0 && partial < total )) && mid_sweep=$((mid_sweep + 1))
  resume=(--resume)
  [[ -e "$db" ]] || resume=()
  expect_exit 0 "$LIL" sweep "$config" --out "$db" "${resume[@]}" --quiet
  [[ "$(rows "$db")" == "$total" ]] || fail "trial $trial: $(rows "$db") rows after resume (killed at $partial)"
  [[ "$(digest "$db")" == "$want" ]] || fail "trial $trial: resumed table differs from the uninterrupted one (killed at $partial rows)"
  [[ "$(sqlite3 "$db" "SELECT status FROM runs ORDER BY run_id DESC LIMIT 1")" == finished ]] ||
    fail "trial $trial: last run not marked finished"
  [[ "$(sqlite3 "$db" "PRAGMA integrity_check")" == ok ]] || fail "trial $trial: integrity_check failed"
  rm -f "$db" "$db"-wal "$db"-shm "$db".lock
done
echo "kill -9: $trials trials, $mid_sweep killed mid-sweep, all resumed to the uninterrupted table"
(( mid_sweep > 0 )) || fail "no kill landed mid-sweep in $trials trials"

# ---- full disk: writes beyond RLIMIT_FSIZE fail (SIGXFSZ ignored, as a full disk fails them) ----
db="$TMP_DIR/full.sqlite"
expect_exit 2 bash -c "trap '' XFSZ; ulimit -f 96; exec \"\$0\" \"\$@\"" "$LIL" sweep "$config" --out "$db" --quiet
expect_contains "$ERR_TEXT" "$db"
[[ "$ERR_TEXT" == *"disk is full"* || "$ERR_TEXT" == *"File too large"* || "$ERR_TEXT" == *"disk I/O error"* ]] ||
  fail "full disk: unclear error: $ERR_TEXT"
[[ "$(sqlite3 "$db" "PRAGMA integrity_check")" == ok ]] || fail "full disk left a damaged database"
partial="$(rows "$db")"
(( partial % batch == 0 && partial < total )) || fail "full disk: $partial rows committed"
expect_exit 0 "$LIL" sweep "$config" --out "$db" --resume --quiet
[[ "$(digest "$db")" == "$want" ]] || fail "resume after a full disk differs from the uninterrupted table"
echo "full disk: exit 2 after $partial rows, database intact, resume completes it"

# ---- corrupted and foreign databases are refused and left as they were ----
refuse() {  # refuse FILE TEXT: the sweep exits 2 naming FILE and TEXT, and FILE is unchanged
  local before
  before="$(md5sum < "$1")"
  expect_exit 2 "$LIL" sweep "$config" --out "$1" --resume --quiet
  expect_contains "$ERR_TEXT" "$1"
  expect_contains "$ERR_TEXT" "$2"
  [[ "$(md5sum < "$1")" == "$before" ]] || fail "$1 was modified"
}
head -c 65536 /dev/urandom > "$TMP_DIR/noise.sqlite"
refuse "$TMP_DIR/noise.sqlite" "not a database"
printf 'model,dataset\nx,y\n' > "$TMP_DIR/text.sqlite"
refuse "$TMP_DIR/text.sqlite" "not a database"
cp "$reference" "$TMP_DIR/truncated.sqlite"
truncate -s 6000 "$TMP_DIR/truncated.sqlite"
expect_exit 2 "$LIL" sweep "$config" --out "$TMP_DIR/truncated.sqlite" --resume --quiet
expect_contains "$ERR_TEXT" "malformed"
cp "$reference" "$TMP_DIR/scribbled.sqlite"
size=$(stat -c %s "$TMP_DIR/scribbled.sqlite")
dd if=/dev/urandom of="$TMP_DIR/scribbled.sqlite" bs=1024 seek=$((size / 2048)) count=4 conv=notrunc status=none
expect_exit 2 "$LIL" sweep "$config" --out "$TMP_DIR/scribbled.sqlite" --resume --quiet
expect_contains "$ERR_TEXT" "$TMP_DIR/scribbled.sqlite"
cp "$reference" "$TMP_DIR/other-format.sqlite"
sqlite3 "$TMP_DIR/other-format.sqlite" "UPDATE lil_meta SET value='someone-else' WHERE key='format'"
refuse "$TMP_DIR/other-format.sqlite" "not a lil results database"
cp "$reference" "$TMP_DIR/future.sqlite"
sqlite3 "$TMP_DIR/future.sqlite" "UPDATE lil_meta SET value='99' WHERE key='schema_version'"
refuse "$TMP_DIR/future.sqlite" "unsupported schema version"
sqlite3 "$TMP_DIR/foreign.sqlite" "CREATE TABLE lil_meta_backup(x); INSERT INTO lil_meta_backup VALUES (1);"
refuse "$TMP_DIR/foreign.sqlite" "not a lil results database"
echo "corrupted/foreign databases: refused, unchanged"

# ---- SIGINT: the batch in flight is finished, the command to resume is printed ----
db="$TMP_DIR/interrupted.sqlite"
"$LIL" sweep "$config" --out "$db" >"$TMP_DIR/int.out" 2>"$TMP_DIR/int.err" &
pid=$!
wait_rows "$db" 1 "$pid"
kill -INT "$pid"
wait "$pid"
rc=$?
[[ "$rc" == 130 ]] || fail "SIGINT: expected exit 130, got $rc: $(cat "$TMP_DIR/int.err")"
expect_contains "$(cat "$TMP_DIR/int.err")" "resume with: lil sweep $config --out $db --resume"
partial="$(rows "$db")"
(( partial % batch == 0 && partial < total )) || fail "SIGINT: $partial rows committed"
[[ "$(sqlite3 "$db" "SELECT status FROM runs")" == interrupted ]] || fail "SIGINT: run not marked interrupted"
expect_exit 0 "$LIL" sweep "$config" --out "$db" --resume --quiet
[[ "$(digest "$db")" == "$want" ]] || fail "resume after SIGINT differs from the uninterrupted table"
echo "SIGINT: exit 130 after $partial rows, resume completes it"

# ---- GPU out of memory in one cell: its rows carry the error, the other cells run ----
db="$TMP_DIR/oom.sqlite"
LIL_FAULT_INJECT='oom:|sink|' expect_exit 0 "$LIL" sweep "$config" --out "$db" --quiet
failed=$(sqlite3 "$db" "SELECT COUNT(*) FROM results WHERE policy='sink' AND error LIKE 'out of memory: CUDA out of memory%'")
[[ "$failed" == 4 ]] || fail "OOM: expected the 4 sink rows failed with the error text, got $failed"
[[ "$(sqlite3 "$db" "SELECT COUNT(*) FROM results WHERE error IS NOT NULL AND error != ''")" == 4 ]] ||
  fail "OOM: rows outside the failing cell carry an error"
others="SELECT unit_key, output_text, token_ids FROM results WHERE policy != 'sink' ORDER BY unit_key"
[[ "$(sqlite3 "$db" "$others" | md5sum)" == "$(sqlite3 "$reference" "$others" | md5sum)" ]] ||
  fail "OOM: the cells after the failing one differ from the uninterrupted run"
[[ "$(sqlite3 "$db" "SELECT status FROM runs")" == finished_with_failures ]] || fail "OOM: run status not finished_with_failures"
expect_exit 0 "$LIL" sweep "$config" --out "$db" --resume --quiet
[[ "$(digest "$db")" == "$want" ]] || fail "resume did not retry the failed cell to the uninterrupted table"
echo "OOM: cell marked failed with the error text, sweep continued, resume retried it"

# ---- resource limits: a prompt far beyond max_position_embeddings (32768) is refused up front ----
yes "the quick brown fox jumps over the lazy dog" | head -n 8000 > "$TMP_DIR/long_prompt.txt"
expect_exit 2 "$LIL" generate --model "$root/tests/fixtures/models/tiny-qwen2" --prompt-file "$TMP_DIR/long_prompt.txt" \
  --max-new-tokens 4
expect_contains "$ERR_TEXT" "max_position_embeddings"
echo "fault tests passed"
