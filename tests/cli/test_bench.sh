#!/usr/bin/env bash
# lil bench on the CPU: the JSON report's figures are consistent with each other (bytes, floor, ratios),
# both engines run, the MoE floor counts only the experts a token reads, and bad flags exit 2.
. "$(dirname "$0")/lib.sh"

check_report() {  # JSON on stdin: every derived figure follows from the measured ones
  python3 -c '
import json, os, sys
r = json.loads(sys.stdin.read())
close = lambda a, b: abs(a - b) <= 1e-6 * max(1.0, abs(b))
assert close(r["bytes_per_step"], r["weight_bytes_per_step"] + r["kv_bytes_per_step"] + r["selection_bytes_per_step"]), r
assert close(r["floor_s"], r["bytes_per_step"] / (r["copy_bandwidth_GBps"] * 1e9)), r
assert close(r["tbt_over_floor"], r["tbt_p50_s"] / r["floor_s"]), r
assert close(r["bandwidth_bound_tokens_per_s"], r["batch"] / r["floor_s"]), r
assert r["timed_steps"] == r["batch"] * (r["new_tokens"] - 1) or r["timed_steps"] == r["new_tokens"] - 1, r
assert r["tbt_p50_s"] > 0 and r["ttft_s"] > 0 and r["ttft_first_use_s"] > 0 and r["kv_bytes_per_step"] > 0, r
assert r["mode"] == "eager" and r["device"] == "cpu", r
# AddressSanitizer (scripts/sanitize.sh) brings its own allocator, which mallopt does not reach.
own_allocator = os.environ.get("LIL_HOST_MALLOC") == "system" or "ASAN_OPTIONS" in os.environ
assert r["host_malloc"] == ("system" if own_allocator else "kept"), r
assert close(r["prefill_TFLOPs"], r["prefill_flops"] / r["ttft_s"] / 1e12), r
print(r["engine"], r["moe_experts_read_per_layer"], r["weight_bytes_per_step"], r["selection_bytes_per_step"], r["prefill_flops"])
'
}

expect_exit 0 "$LIL" bench --shape tiny --random-weights --context 48 --batch 2 --new-tokens 5 --json
got="$(printf '%s' "$OUT_TEXT" | check_report)" || fail "inconsistent report: $OUT_TEXT"
[[ "$got" == "device 0"* ]] || fail "expected the device engine without a controller, got $got"

expect_exit 0 "$LIL" bench --shape tiny --random-weights --context 48 --batch 2 --new-tokens 5 --engine generate \
  --policy sink --budget 32 --json
got="$(printf '%s' "$OUT_TEXT" | check_report)" || fail "inconsistent report: $OUT_TEXT"
[[ "$got" == "generate 0"* ]] || fail "expected the generate engine, got $got"
expect_contains "$OUT_TEXT" '"policy":"sink"'
# The victim scan reads every slot's position (int64) and score (float32): 2 rows x 8 layers x 4 KV heads x
# 32 slots x 12 bytes.
read -r _ _ _ selection_bytes _ <<< "$got"
[[ "$selection_bytes" == "24576.0" ]] || fail "expected sink's selection state of 24576 bytes per step, got $got"

# A MoE shape: at batch 1 the floor counts top-k experts per layer, not all of them.
cat > "$TMP_DIR/moe.json" <<'JSON'
{"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "vocab_size": 256, "hidden_size": 64,
 "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "tie_word_embeddings": false}
JSON
expect_exit 0 "$LIL" bench --shape "$TMP_DIR/moe.json" --random-weights --context 16 --batch 1 --new-tokens 3 --json
got="$(printf '%s' "$OUT_TEXT" | check_report)" || fail "inconsistent report: $OUT_TEXT"
read -r engine experts weight_bytes selection_bytes prefill_flops <<< "$got"
[[ "$experts" == "2.0" ]] || fail "expected 2 experts read per layer at batch 1, got $experts"
# Float32 weights read per step: everything but the embedding table (untied: a lookup reads one row) and the
# 6 routed experts of each layer that a token does not use.
expected=$(python3 -c '
v, h, L, heads, kv, E, k, I, S = 256, 64, 2, 4, 2, 8, 2, 32, 64
d = h // heads
q_out, kv_out = heads * d, kv * d
layer = 2 * h + q_out * h + 2 * kv_out * h + h * q_out + q_out + 2 * kv_out + E * h + 3 * E * I * h + 3 * S * h + h
total = 2 * v * h + h + L * layer
print(4 * (total - v * h - L * (E - k) * 3 * I * h))')
[[ "$weight_bytes" == "$expected" ]] || fail "expected $expected weight bytes per step, got $weight_bytes"
# Prefill FLOPs of the 16-token prompt: 2 per weight a token uses (top-2 experts, no embedding table) for each
# token, the LM head once (the last position), and the causal attention (2 matmuls x 2 FLOPs x 16 * 17 / 2
# query-key pairs x 4 heads x 16 dims x 2 layers).
expected=$(python3 -c '
v, h, L, heads = 256, 64, 2, 4
params = '"$weight_bytes"' / 4 - v * h
print(float(2 * params * 16 + 2 * v * h + 4 * (16 * 17 // 2) * heads * (h // heads) * L))')
[[ "$prefill_flops" == "$expected" ]] || fail "expected $expected prefill FLOPs, got $prefill_flops"

# A grid on one model: full once per context and first, every sparse case relative to it; a case that cannot
# run (quest's budget must be whole pages) is reported and the grid goes on.
expect_exit 0 "$LIL" bench --shape tiny --random-weights --context 40 72 --batch 1 --new-tokens 3 \
  --policy sink full quest --budget 16 24 --json
printf '%s\n' "$OUT_TEXT" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
assert [(r["context"], r["policy"], r["budget"]) for r in rows] == [
    (c, p, b) for c in (40, 72) for p, b in (("full", 0), ("sink", 16), ("sink", 24), ("quest", 16), ("quest", 24))], rows
full = {r["context"]: r for r in rows if r["policy"] == "full"}
for r in rows:
    if r["policy"] == "full":
        assert "vs_full" not in r and r["selection_bytes_per_step"] == 0, r
    elif r["policy"] == "quest" and r["budget"] == 24:
        assert "page" in r["error"], r
    else:
        f = full[r["context"]]
        close = lambda a, b: abs(a - b) <= 1e-9 * max(1.0, abs(b))
        assert close(r["vs_full"], r["tbt_p50_s"] / f["tbt_p50_s"]), r
        assert close(r["bytes_vs_full"], r["bytes_per_step"] / f["bytes_per_step"]), r
        assert close(r["vs_full_over_bytes"], r["vs_full"] / r["bytes_vs_full"]), r
        assert r["kv_bytes_per_step"] < f["kv_bytes_per_step"], r
        # Quest reads the key min and max of every page (float32): 8 layers x 4 KV heads x ceil((context + 3) / 16)
        # pages x 64 dims x 2 x 4 bytes; sink the positions and scores of its slots.
        pages = -(-(r["context"] + 3) // 16)
        want = 8 * 4 * pages * 64 * 2 * 4 if r["policy"] == "quest" else 8 * 4 * r["budget"] * 12
        assert r["selection_bytes_per_step"] == want, (want, r)
' || fail "bad grid report: $OUT_TEXT"

expect_exit 2 "$LIL" bench --shape tiny --random-weights --context 40 --policy full nosuch --budget 16
expect_contains "$ERR_TEXT" "unknown policy 'nosuch'"
expect_exit 2 "$LIL" bench --shape tiny --random-weights --mode graph
expect_contains "$ERR_TEXT" "--mode"
expect_exit 2 "$LIL" bench --shape tiny --random-weights --engine device --controller guardian
expect_contains "$ERR_TEXT" "--engine"
expect_exit 2 "$LIL" bench --shape tiny --random-weights --engine warp
expect_exit 2 "$LIL" bench --shape no-such-shape --random-weights
expect_contains "$ERR_TEXT" "--shape"
# --help names every built-in shape that the error lists as accepted.
shapes="${ERR_TEXT#*expected }"
shapes="${shapes%% or a config.json*}"
[[ -n "$shapes" && "$shapes" != "$ERR_TEXT" ]] || fail "no shape list in: $ERR_TEXT"
expect_exit 0 "$LIL" bench --help
for shape in ${shapes//,/ }; do expect_contains "$OUT_TEXT" "$shape"; done
echo "bench: ok"
