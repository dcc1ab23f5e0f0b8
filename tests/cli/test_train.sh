#!/usr/bin/env bash
# lil dataset synth and lil train: deterministic JSONL that the normal loader reads, a few CPU training steps
# whose checkpoint `lil generate` loads, resume, and exit code 2 on bad input.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"

expect_exit 0 "$LIL" dataset synth --split test --n 3 --seed 4
first="$OUT_TEXT"
[[ "$(printf '%s\n' "$first" | wc -l)" == 3 ]] || fail "expected 3 JSONL lines, got: $first"
expect_contains "$first" '"id":"test-4-2"'
expect_contains "$first" '\\boxed{'
expect_exit 0 "$LIL" dataset synth --split test --n 3 --seed 4 --out "$TMP_DIR/t.jsonl"
[[ "$(cat "$TMP_DIR/t.jsonl")" == "$first" ]] || fail "--out wrote something else than stdout showed"
expect_exit 0 "$LIL" dataset synth --split train --n 3 --seed 4
[[ "$OUT_TEXT" != "$first" ]] || fail "train and test splits gave the same problems"
expect_exit 0 "$LIL" dataset show jsonl --data "$TMP_DIR/t.jsonl" --id-field id --json
expect_contains "$OUT_TEXT" '"id":"test-4-0"'
expect_exit 0 "$LIL" dataset synth --n 2 --knobs '{"min_vars": 3, "max_vars": 3, "modulus": 100}'
[[ "$(printf '%s\n' "$OUT_TEXT" | head -1 | grep -o ';' | wc -l)" == 2 ]] || fail "min/max_vars 3 gave another length: $OUT_TEXT"
expect_exit 2 "$LIL" dataset synth --split dev
expect_contains "$ERR_TEXT" "--split: expected 'train' or 'test'"
expect_exit 2 "$LIL" dataset synth --knobs '{"max_vars": 40}'
expect_contains "$ERR_TEXT" "key 'max_vars'"

cat >"$TMP_DIR/train.json" <<JSON
{"out_dir": "run", "device": "cpu", "template": "$root/configs/templates/varchain.json",
 "task": {"seed": 1, "knobs": {"min_vars": 3, "max_vars": 4}},
 "model": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
 "optimizer": {"steps": 4, "batch_size": 4, "warmup_steps": 1},
 "eval": {"problems": 2, "max_new_tokens": 16}, "log_every": 1}
JSON
expect_exit 0 "$LIL" train "$TMP_DIR/train.json" --steps 2
expect_contains "$OUT_TEXT" "[lil] trained"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json train_log.jsonl; do
  [[ -s "$TMP_DIR/run/$f" ]] || fail "lil train did not write run/$f"
done
expect_exit 0 "$LIL" generate --model "$TMP_DIR/run" --prompt "a=1;b=a+2. What is b?" --max-new-tokens 6 --ignore-eos --json
expect_contains "$OUT_TEXT" '"output_tokens":6'
expect_exit 2 "$LIL" train "$TMP_DIR/train.json"
expect_contains "$ERR_TEXT" "--resume"
expect_exit 0 "$LIL" train "$TMP_DIR/train.json" --resume --quiet
expect_contains "$(cat "$TMP_DIR/run/train_log.jsonl")" '"event":"resume"'
expect_contains "$(cat "$TMP_DIR/run/trainer_state/state.json")" '"step":4'

printf '{"out_dir": "x", "optimizer": {"stepz": 3}}' >"$TMP_DIR/bad.json"
expect_exit 2 "$LIL" train "$TMP_DIR/bad.json"
expect_contains "$ERR_TEXT" "unknown key 'stepz'"
expect_exit 2 "$LIL" train "$TMP_DIR/missing.json"
