#!/usr/bin/env bash
# lil generate / --version / bad input: one clear message naming the file or flag, exit code 2.
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
model="$root/tests/fixtures/models/tiny-qwen2"

expect_exit 0 "$LIL" --version
expect_contains "$OUT_TEXT" "LibTorch"
expect_contains "$OUT_TEXT" "CUDA"
expect_exit 0 "$LIL" --help
expect_contains "$OUT_TEXT" "generate"
expect_exit 0 "$LIL" generate --help
expect_contains "$OUT_TEXT" "--max-new-tokens"

# JSON output: fields and consistency with the parity reference (greedy ids of the "short" prompt).
expect_exit 0 "$LIL" generate --model "$model" --prompt "What is 2 + 3? Answer:" --max-new-tokens 6 --json
json="$OUT_TEXT"
python3 - "$json" "$root/tests/fixtures/parity/tiny-qwen2.json" <<'PY' || fail "JSON output does not match the HF reference"
import json, sys
out = json.loads(sys.argv[1])
ref = [r for r in json.load(open(sys.argv[2]))["records"] if r["name"] == "short"][0]
for key in ("prompt_ids", "token_ids", "logprobs", "text", "stop_reason", "ttft_s", "tbt_p50_s", "jct_s", "kv"):
    assert key in out, key
assert out["prompt_ids"] == ref["prompt_ids"], (out["prompt_ids"], ref["prompt_ids"])
assert out["token_ids"] == ref["token_ids"][:6], (out["token_ids"], ref["token_ids"][:6])
assert all(abs(a - b) < 1e-3 for a, b in zip(out["logprobs"], ref["logprobs"]))
assert out["stop_reason"] == "max_new_tokens"
assert out["jct_s"] >= out["ttft_s"] > 0
PY

# Streaming text + metrics summary.
expect_exit 0 "$LIL" generate --model "$model" --prompt "Hello" --max-new-tokens 4 --policy sink --budget 8
expect_contains "$OUT_TEXT" "TTFT"
expect_contains "$OUT_TEXT" "TBT mean"
expect_contains "$OUT_TEXT" "policy sink budget 8"

# Bad input.
expect_exit 2 "$LIL" generate --model "$TMP_DIR/missing" --prompt hi
expect_contains "$ERR_TEXT" "$TMP_DIR/missing"
expect_exit 2 "$LIL" generate --model "$model" --prompt hi --dtype float64
expect_contains "$ERR_TEXT" "--dtype"
expect_exit 2 "$LIL" generate --model "$model" --prompt hi --policy nosuch --budget 4
expect_contains "$ERR_TEXT" "unknown policy 'nosuch'"
expect_exit 2 "$LIL" generate --model "$model" --prompt hi --policy sink --budget 0
expect_contains "$ERR_TEXT" "--budget"
expect_exit 2 "$LIL" generate --model "$model" --prompt hi --policy sink --budget 8 --policy-arg colour=red
expect_contains "$ERR_TEXT" "colour"
printf 'bad \xff\xfe utf8' > "$TMP_DIR/bad_prompt.txt"
expect_exit 2 "$LIL" generate --model "$model" --prompt-file "$TMP_DIR/bad_prompt.txt"
expect_contains "$ERR_TEXT" "UTF-8"
expect_exit 2 "$LIL" generate --model "$model" --prompt-file "$TMP_DIR/nope.txt"
expect_contains "$ERR_TEXT" "nope.txt"

# Broken checkpoints: copies of the fixture with one thing wrong.
broken() {
  local dir="$TMP_DIR/$1"
  mkdir -p "$dir"
  cp "$model"/config.json "$model"/generation_config.json "$dir"/
  cp -L "$model"/tokenizer.json "$model"/tokenizer_config.json "$dir"/
  cp "$model"/model.safetensors "$dir"/
  echo "$dir"
}
d=$(broken malformed_config); echo '{"hidden_size": 32,' > "$d/config.json"
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "config.json"
d=$(broken unknown_arch); python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['architectures']=['GPT2LMHeadModel']; c['model_type']='gpt2'; json.dump(c, open(sys.argv[1],'w'))" "$d/config.json"
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "GPT2LMHeadModel"
d=$(broken wrong_shape); python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['intermediate_size']=128; json.dump(c, open(sys.argv[1],'w'))" "$d/config.json"
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "expected shape"
d=$(broken truncated); truncate -s 5000000 "$d/model.safetensors"
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "model.safetensors"
d=$(broken huge_header); python3 - "$d/model.safetensors" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.write(struct.pack("<Q", 1 << 40))
PY
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "header"
d=$(broken no_weights); rm "$d/model.safetensors"
expect_exit 2 "$LIL" generate --model "$d" --prompt hi
expect_contains "$ERR_TEXT" "model.safetensors"
d=$(broken too_long); python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['max_position_embeddings']=8; json.dump(c, open(sys.argv[1],'w'))" "$d/config.json"
expect_exit 2 "$LIL" generate --model "$d" --prompt "a rather long prompt that does not fit" --max-new-tokens 8
expect_contains "$ERR_TEXT" "max_position_embeddings"
echo "generate CLI tests passed"
