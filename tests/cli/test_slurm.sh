#!/usr/bin/env bash
# scripts/slurm/ on a real single-node Slurm cluster on 127.0.0.1 (scripts/slurm_cluster.sh): a 4-task
# array sweep of configs/ci-smoke.json plus the dependent merge+report job; the merged database must
# equal a single-process run. Skips only when not root or the Slurm/munge packages are missing (CI
# installs them). Stops the daemons it started, by PID, even on failure.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
config="$root/configs/ci-smoke.json"
cluster="$root/scripts/slurm_cluster.sh"
shards=4

if [[ "$(id -u)" != 0 ]]; then
  echo "SKIP: test_slurm needs root to run munged/slurmctld/slurmd"
  exit 0
fi
for tool in munged slurmctld slurmd sbatch squeue scontrol; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool missing; install the Debian packages slurmctld slurmd slurm-client munge (scripts/install_deps.sh)"
    exit 0
  fi
done

eval "$("$cluster" env)"
# Reuse a cluster that is already up (CI may start one); stop only one this test started.
started_here=0
stop_cluster() { [[ $started_here == 1 ]] && "$cluster" stop >/dev/null; }
trap stop_cluster EXIT
if ! "$cluster" status; then
  started_here=1
  "$cluster" start || fail "the single-node Slurm cluster did not start"
fi

# Jobs run where they were submitted and inherit this environment (LIL, SLURM_CONF).
export LIL
cd "$TMP_DIR" || fail "no scratch directory"
out="$TMP_DIR/results"
# The CI node has no GPU: --gres=none overrides the script's --gres=gpu:1 (the only change from a cluster).
array_job=$(sbatch --parsable --gres=none --array=0-$((shards - 1)) "$root/scripts/slurm/sweep_array.sbatch" "$config" "$out" "$shards") \
  || fail "sbatch of the array job failed"
merge_job=$(sbatch --parsable --dependency="afterok:$array_job" "$root/scripts/slurm/merge_report.sbatch" "$config" "$out" "$shards") \
  || fail "sbatch of the merge job failed"

# Meanwhile, the reference: the same config in one process.
single="$TMP_DIR/single.sqlite"
expect_exit 0 "$LIL" sweep "$config" --out "$single" --quiet

job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | paste -sd, -; }
# The state of a job (its tasks' states joined by commas) once none is still on its way (up to 90 s): a job
# passes through COMPLETING after its script ends, before COMPLETED.
final_state() {
  local s=""
  for _ in $(seq 1 450); do
    s=$(job_state "$1")
    [[ -n "$s" && ! ",$s," =~ ,(PENDING|RUNNING|CONFIGURING|COMPLETING), ]] && break
    sleep 0.2
  done
  echo "$s"
}
state=$(final_state "$merge_job")
array_state=$(final_state "$array_job")
if [[ "$state" != COMPLETED ]]; then
  tail -n 20 lil-sweep-*.out lil-merge-*.out 2>/dev/null
  fail "merge job $merge_job ended $state (array job $array_job: $array_state)"
fi
[[ "$array_state" == COMPLETED ]] || fail "array job $array_job: $array_state"

name=ci-smoke
for ((i = 0; i < shards; ++i)); do
  [[ -s "$out/$name.shard-$i-of-$shards.sqlite" ]] || fail "array task $i wrote no shard database"
  grep -q "shard $i/$shards" lil-sweep-"$array_job"_"$i".out || fail "task $i did not run shard $i/$shards"
done
grep -q "merged 40 rows from 4 database(s)" lil-merge-"$merge_job".out || fail "merge log: $(cat lil-merge-"$merge_job".out)"
[[ -s "$out/$name-report/report.md" ]] || fail "the merge job wrote no report"

results_digest() {
  sqlite3 "$1" "SELECT unit_key, cell_key, prompt_tokens, output_tokens, output_text, answer_text, token_ids,
    stop_reason, stop_step, extracted_answer, correct, max_new_tokens, cap_source, error FROM results ORDER BY unit_key"
}
[[ "$(results_digest "$out/$name.sqlite")" == "$(results_digest "$single")" ]] || fail "the Slurm merge differs from the single-process run"

# A failed task is resubmitted alone: shard 2 loses its database, task 2 reruns by itself (and would
# resume a partial database), and the merge job is submitted again.
rm -f "$out/$name.shard-2-of-$shards.sqlite"
rerun=$(sbatch --parsable --gres=none --array=2 "$root/scripts/slurm/sweep_array.sbatch" "$config" "$out" "$shards") || fail "resubmit failed"
remerge=$(sbatch --parsable --dependency="afterok:$rerun" "$root/scripts/slurm/merge_report.sbatch" "$config" "$out" "$shards") || fail "resubmit of the merge failed"
state=$(final_state "$remerge")
[[ "$state" == COMPLETED ]] || fail "merge after the resubmitted task ended $state: $(cat lil-merge-"$remerge".out 2>/dev/null)"
grep -q "shard 2/$shards" lil-sweep-"$rerun"_2.out || fail "the resubmitted task did not run shard 2/$shards"
[[ "$(results_digest "$out/$name.sqlite")" == "$(results_digest "$single")" ]] || fail "merge after the resubmitted task differs"
echo "ok"
