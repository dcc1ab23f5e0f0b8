#pragma once
// Fused CUDA kernels of the graph-captured decode step (raw pointers, no torch; src/runtime/fast_decode.cpp
// wraps them for tensors and holds the plain ATen twin each one is tested against in
// tests/torch/fast_decode_test.cpp).
//
// Element types: `dtype` is one of the ElemType codes; activations, weights and the KV cache share it.
// Every launch goes to `stream` (a cudaStream_t), so the step can be captured in a CUDA graph. None of the
// kernels reads anything back to the host.
#include <cstdint>

namespace lil::kernels {

enum ElemType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// Hugging Face LlamaRMSNorm: y = w * T(x_f32 * rsqrt(mean(x_f32^2) + eps)), the product rounded to T.
// x, out: [rows, hidden] contiguous; w: [hidden].
void rms_norm(int dtype, const void* x, const void* w, void* out, int64_t rows, int64_t hidden, float eps,
              void* stream);

// RoPE on the fused q/k/v projection of one decode token per row, as Hugging Face computes it in T:
// r = T(T(x * cos) + T(rotate_half(x) * sin)). qkv: [B, (Hq + 2 Hkv) * D] contiguous (biases added);
// cos/sin: [P, D] tables; positions: [B] int64. Writes q_out [B, Hq, D] and the rotated key and the value
// to k_out/v_out [B, Hkv, D]. (The `full` policy's attention kernel does the same with the cache append
// itself: decode_attention.)
struct RopeAppendArgs {
  const void* qkv = nullptr;
  const void* cos = nullptr;
  const void* sin = nullptr;
  const int64_t* positions = nullptr;
  void* q_out = nullptr;
  void* k_out = nullptr;
  void* v_out = nullptr;
  int64_t batch = 0, n_q_heads = 0, n_kv_heads = 0, head_dim = 0;
};
void rope_append(int dtype, const RopeAppendArgs& args, void* stream);

// Decode attention of one query token per row over the first positions[b] + 1 slots of a KV cache whose
// slot i holds position i (the `full` policy), split over the context (flash-decoding), with RoPE and the
// cache append fused in: from the fused projection qkv [B, (Hq + 2 Hkv) D] (biases added) and the cos/sin
// tables [P, D], the query heads are RoPE'd in the split kernel and the token's roped key and value are
// written to k/v [B, Hkv, C, D] at slot positions[b] (slot_positions [B, Hkv, C] records it, when given) by
// the block whose chunk holds that slot, before it reads it. Each of `splits` chunks of `chunk` slots writes a
// partial (max of the base-2 scores, sum, unnormalised output) in float32 to `partial` (B * Hq * splits *
// (D + 2) floats), and a second kernel combines them into out [B, Hq, D]. Query heads are grouped per KV
// head (GQA, at most 8 per KV head); head_dim 64 or 128.
//
// With `evict` set, the same kernels run an eviction policy's step on a compact cache of C = budget slots
// (policies/policy.h, FusedEviction): every split block finds the victim itself from slot_positions and
// scores (read-only in that kernel, so all blocks agree): the first empty slot, else the unprotected slot with
// the lowest key, the oldest token among equal keys. The block holding it writes the token's key and value
// there; every valid slot (slot_positions >= 0, and the victim) is attended. The combine kernel then records
// the victim (slot_positions = position, scores = 0; `chosen` [B, Hkv] holds the slot) and, when the rule
// updates scores, keeps each query head's maximum and denominator in `head_stats` [B, Hq, 2]; the split
// kernel wrote the base-2 scores to `logits` [B, Hq, C], and a third kernel adds the probabilities summed
// over the group to `scores` (AddSum) or stores their mean (SetMean).
struct DecodeAttentionArgs {
  const void* qkv = nullptr;
  const void* cos = nullptr;
  const void* sin = nullptr;
  int64_t* slot_positions = nullptr;
  void* k = nullptr;
  void* v = nullptr;
  const int64_t* positions = nullptr;
  void* out = nullptr;
  float* partial = nullptr;
  int64_t batch = 0, n_q_heads = 0, n_kv_heads = 0, head_dim = 0, capacity = 0;
  int64_t chunk = 256, splits = 1;
  // Quest's and InfLLM's scoring kernels (quest_select, infllm_select): about this many blocks of 128 threads
  // in all, split evenly over the (KV head, sequence) rows.
  int64_t select_blocks = 528;
  float softmax_scale = 1.0f;
  // `full` and gather-mode attention (not eviction steps) of bf16 / fp16 caches on the tensor cores
  // (attention_mma_kernel) instead of the scalar kernel.
  bool tensor_cores = false;
  // Eviction step (see above).
  bool evict = false;
  float* scores = nullptr;        // [B, Hkv, C] float32
  int64_t* chosen = nullptr;      // [B, Hkv] scratch
  float* logits = nullptr;        // [B, Hq, C] scratch, when update != 0
  float* head_stats = nullptr;    // [B, Hq, 2] scratch, when update != 0
  int64_t protect_below = 0, protect_recent = 0;
  bool key_is_position = false;
  int update = 0;                 // 0 none, 1 add the sum over the group, 2 store the mean over it
  // Gather mode (pages != nullptr): attend `selected` tokens listed by page: token j of row (b, h) is slot
  // pages[(b Hkv + h) k + j / page_size] * page_size + j % page_size (k = selected / page_size); slots past
  // the capacity or empty (slot_positions < 0) are skipped. Chunks and splits count listed tokens. The token
  // is not written (quest_select / infllm_select did it); the query is RoPE'd as usual. With page_size 1 the
  // list names single slots (InfLLM).
  const int32_t* pages = nullptr;
  int64_t page_size = 0, selected = 0;
};
void decode_attention(int dtype, const DecodeAttentionArgs& args, void* stream);

// Quest's page choice for one decode token per row (policies/quest.h), the first half of its fused step:
// - quest_bounds: RoPE of the query heads and the token's key from qkv; the token's key and value written to
//   slot positions[b] of k/v [B, Hkv, C, D] (slot_positions records it) and folded into its page's element-wise
//   page_min / page_max [B, Hkv, P, D]; then per page the bound sum over the group's query heads of
//   sum_d max(q_d min_d, q_d max_d) -> bounds [B, Hkv, P] float32, -inf for an empty page (max = -inf), +inf
//   for the page of the token just written.
// - the top k_pages bounds per (b, h), larger first, the earlier page among equal bounds, written in
//   increasing page order to pages [B, Hkv, k_pages] (int32), and the number of non-empty slots among them
//   to attended [B, Hkv] (int64); attended_max [B], when given, keeps the maximum over the row's KV heads (and
//   over the calls of a step: one per layer).
// decode_attention in gather mode then attends those pages.
struct QuestArgs {
  DecodeAttentionArgs token;  // the token, the caches and the geometry (qkv .. capacity; the rest unused)
  void* page_min = nullptr;
  void* page_max = nullptr;
  float* bounds = nullptr;
  int32_t* pages = nullptr;
  int64_t* attended = nullptr;
  int64_t* attended_max = nullptr;
  int64_t page_size = 0, n_pages = 0, k_pages = 0;
};
// Whether quest_select handles this many pages (the top-k keeps them in shared memory).
bool quest_select_supports(int64_t n_pages);
void quest_select(int dtype, const QuestArgs& args, void* stream);

// InfLLM's choice of memory blocks for one decode token per row (policies/infllm.h), the first half of its fused
// step, on its full-length cache (slot p holds position p):
// - infllm_blocks: RoPE of the query heads and the token's key; the token written to slot positions[b]
//   (slot_positions records it); the group's query heads summed in float32 to query_sum [B, Hkv, D]; then per
//   memory block j (slots [n_sink + j block_size, + block_size)) that starts before the local window
//   (local_start = max(p - local + 1, n_sink)): its `reps` held tokens (resident, before the local window) with
//   the highest representative `scores` (the lower slot among equal ones), and the relevance = query_sum . (the
//   sum of their keys, float32) -> relevance [B, Hkv, n_blocks] float32; -inf for a block that is no candidate.
//   A block is final when all its slots lie before p - local (no step adds to their scores any more): its key
//   sum is read from block_sums instead of being formed again.
// - the top k_blocks relevances per (b, h) as Quest's top-k picks pages (blocks [B, Hkv, k_blocks] int32, in
//   increasing order); the attended slots to slots [B, Hkv, selected] (int32; selected = n_sink + local +
//   k_blocks block_size): the initial tokens, the local window, the chosen blocks' tokens before the window,
//   `capacity` for an entry not attended; their count to attended [B, Hkv] (attended_max as Quest's); then the
//   step's representative-score update: scores[p'] += query_sum . key[p'] for p' in [max(p - local, n_sink),
//   p - 1]; when p - local ends a memory block (it is final from the next step on), that block's representative
//   key sum to block_sums.
// decode_attention in gather mode (page_size 1, `pages` = slots) then attends them.
struct InfLLMArgs {
  DecodeAttentionArgs token;  // as QuestArgs's
  float* scores = nullptr;      // [B, Hkv, C] float32
  float* query_sum = nullptr;   // [B, Hkv, D] scratch
  float* relevance = nullptr;   // [B, Hkv, n_blocks] scratch
  int32_t* blocks = nullptr;    // [B, Hkv, k_blocks] scratch
  int32_t* slots = nullptr;     // [B, Hkv, selected]
  float* block_sums = nullptr;  // [B, Hkv, n_blocks, D] float32: final blocks' representative key sums, kept
                                // across steps (the prefill's final blocks filled by prefill_block_sums)
  int64_t* attended = nullptr;
  int64_t* attended_max = nullptr;
  int64_t n_sink = 0, local = 0, block_size = 0, reps = 0, n_blocks = 0, k_blocks = 0, selected = 0;
};
// Whether infllm_select handles this shape: blocks of at most 32 tokens, at most 4 representatives, the block
// relevances fitting the top-k's shared memory.
bool infllm_select_supports(int64_t n_blocks, int64_t block_size, int64_t reps);
void infllm_select(int dtype, const InfLLMArgs& args, void* stream);
bool decode_attention_supports(int64_t head_dim, int64_t group);

// out[r, i] = T(silu(T(gate_up[r, i])) * gate_up[r, I + i]) for i < I: the SwiGLU activation on a fused
// gate/up projection [rows, 2I] -> [rows, I], rounded as Hugging Face's two ops round.
void silu_mul(int dtype, const void* gate_up, void* out, int64_t rows, int64_t width, void* stream);

// Grouped expert GEMV (mixture of experts): for every (token, slot) pair p routed to expert e,
// out[p, n] = T(sum_k W[e, n, k] * x[p / input_div, k]). Pairs come grouped by expert: order[offsets[e] ..
// offsets[e + 1]) are the pair indices routed to e (offsets: [E + 1] int64). Each expert's weights are read
// once for all its pairs; experts with no pair cost one early exit. W: [E, N, K] contiguous, K % (16 /
// sizeof(T)) == 0; x: [*, K]; out: [P, N].
struct GroupedGemvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const int64_t* order = nullptr;
  const int64_t* offsets = nullptr;
  void* out = nullptr;
  int64_t experts = 0, n = 0, k = 0, input_div = 1;
};
void grouped_gemv(int dtype, const GroupedGemvArgs& args, void* stream);

// Small-batch linear layer with its neighbours fused (src/kernels/gemv_kernels.cu), for decode steps of at most
// kGemvMaxRows rows: out = epilogue(x' @ W^T) where
//   x' = x, or the Hugging Face RMSNorm of x times norm_weight when norm_weight is given (written to
//        norm_out [m, k] too when that is given);
//   epilogue: y = T(acc + bias); with `swiglu` W is [2n, k] (gate rows, then up rows) and
//        y = T(T(silu(T(gate))) * T(up)); with a residual [m, n], y = T(residual + T(y)); with out_float the
//        result is stored as float32 (after rounding to T), as `linear(...).float()` gives it.
// Each block stages x' in shared memory as float32 (m * k * 4 bytes, plus k * 4 for the norm weights when a
// norm is fused in: gemv_supported says whether it fits)
// and its warps stream whole weight rows, so every weight byte is read once per step.
// Four: at eight rows the CUDA-core dot products, not the memory, limit the kernel (measured on the H200: the
// 1.5B shape at batch 8, 32k context, took 6.4 ms per step with `sink` against 3.8 ms through cuBLAS).
constexpr int64_t kGemvMaxRows = 4;
// Weights a kernel asks L2 to fetch for the kernel after it (GemvArgs::prefetch): `bytes` from p.
struct L2Range {
  const void* p = nullptr;
  int64_t bytes = 0;
};
constexpr int kMaxPrefetchRanges = 3;
struct GemvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  const void* norm_weight = nullptr;
  void* norm_out = nullptr;
  void* out = nullptr;
  int64_t m = 0, n = 0, k = 0;
  float eps = 0.f;
  bool swiglu = false, out_float = false;
  // Up to kMaxPrefetchRanges ranges (16-byte aligned, multiples of 16 bytes; bytes 0 = none), usually the next
  // layer's weights: each warp of gemv_kernel, when its rows are done, asks L2 (sm_90 bulk prefetch) for its
  // share of them, so the memory keeps streaming across the kernel boundary and through the next kernels' latency-
  // bound start. A hint only: the results are the same bits with or without it. gemv_chain and mma_linear ignore it.
  L2Range prefetch[kMaxPrefetchRanges];
};
bool gemv_supported(int dtype, int64_t m, int64_t k, bool norm = false);
void gemv(int dtype, const GemvArgs& args, void* stream);

// Up to kMaxChainLinks such layers of the same m rows in one kernel, one after another with a barrier across
// the grid between them (all blocks resident: a cooperative launch), so a decode step pays one launch and one
// prologue for o_proj + residual -> norm + gate/up + SwiGLU -> down + residual -> the next layer's norm + QKV
// (or the final norm + lm_head) instead of four, and each layer's first weights are loaded before the barrier.
// A link's x / residual may be an earlier link's out. Each link gives the bits gemv gives it alone.
constexpr int kMaxChainLinks = 4;
struct GemvChainArgs {
  GemvArgs link[kMaxChainLinks];
  int links = 0;
};
bool gemv_chain_supported(int dtype, const GemvChainArgs& chain);
void gemv_chain(int dtype, const GemvChainArgs& chain, void* stream);

// The same layer for up to kMmaMaxRows rows of bf16/f16 on the tensor cores (src/kernels/mma_linear.cu; Hopper
// thread block clusters): every weight byte read once per step, the K dimension split over the blocks of a
// cluster for the narrow projections, partial sums reduced in a fixed order (the same result every run).
// mma_linear_supported says whether dtype, m and k (a multiple of 8) suit it on the current device.
constexpr int64_t kMmaMaxRows = 32;
bool mma_linear_supported(int dtype, int64_t m, int64_t k);
void mma_linear(int dtype, const GemvArgs& args, void* stream);

// The Qwen2-MoE sparse block for a few tokens, after a gemv that produced the router logits (E columns, then
// the shared expert's gate logit as column E, in T) and the normalised input xn [m, k]:
//   moe_small_up: per token the softmax over the E logits (float32), top-k (optionally renormalised), the
//     weights rounded to T; selection written to sel_experts [m, top_k] (int32, by increasing expert id, the
//     order Hugging Face adds them in) and sel_weights [m, top_k] (float32 holding T values); then
//     h_routed [m, top_k, I] = silu(gate) * up of each selected expert and h_shared [m, S] of the shared one.
//   moe_small_down: out[t] = T(residual[t] + T(routed + T(T(sigmoid(gate_logit)) * shared_down(h_shared)))),
//     routed summed expert by expert in T: routed = T(routed + T(T(down_e(h_e)) * w_e)).
// Only the selected experts' weights are read.
struct MoeSmallArgs {
  const void* xn = nullptr;          // [m, k]
  const void* logits = nullptr;      // [m, E + 1]
  const void* experts_gate_up = nullptr;  // [E, 2I, k]
  const void* experts_down = nullptr;     // [E, k, I]
  const void* shared_gate_up = nullptr;   // [2S, k]
  const void* shared_down = nullptr;      // [k, S]
  const void* residual = nullptr;    // [m, k]
  int32_t* sel_experts = nullptr;    // [m, top_k]
  float* sel_weights = nullptr;      // [m, top_k]
  void* h_routed = nullptr;          // [m, top_k, I]
  void* h_shared = nullptr;          // [m, S]
  void* out = nullptr;               // [m, k]
  int64_t m = 0, k = 0, experts = 0, top_k = 0, inter = 0, shared_inter = 0;
  bool norm_topk_prob = false;
};
bool moe_small_supported(int dtype, int64_t m, int64_t k, int64_t experts, int64_t top_k, int64_t inter,
                         int64_t shared_inter);
void moe_small_up(int dtype, const MoeSmallArgs& args, void* stream);
void moe_small_down(int dtype, const MoeSmallArgs& args, void* stream);

// The CUDA error of the last launch as text, empty when none (checked by the wrappers).
const char* last_launch_error();

}  // namespace lil::kernels
