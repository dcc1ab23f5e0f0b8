#pragma once
// Tensor wrappers of the fused decode kernels (src/kernels/decode_kernels.cu) and, next to each, its plain
// ATen twin: the obviously-right reference the kernel is tested against (tests/torch/fast_decode_test.cpp)
// and the path every build without CUDA takes. The `fused_*` functions need CUDA tensors and a CUDA build
// (fused_kernels_available); the `reference_*` ones run anywhere.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lil {

// True when the fused kernels can run on tensors like `like` (a CUDA build and a CUDA tensor of float32,
// float16 or bfloat16).
bool fused_kernels_available(const at::Tensor& like);

// Hugging Face LlamaRMSNorm over the last dimension of x [N, H].
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor reference_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// RoPE of one decode token per row from the fused projection qkv [B, (Hq + 2 Hkv) D] (tables cos/sin [P, D],
// positions [B] int64). Returns q [B, Hq, D], k and v [B, Hkv, D] (after RoPE for q and k).
struct RopedQKV {
  at::Tensor q, k, v;
};
RopedQKV fused_rope(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& positions,
                    int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim);
RopedQKV reference_rope(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                        const at::Tensor& positions, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim);

// The `full` policy's decode step on a cache whose slot i holds position i: RoPE, write the token's key and
// value to slot positions[b] of k_cache / v_cache [B, Hkv, C, D] (slot_positions [B, Hkv, C] records it),
// then attend q to slots [0, positions[b]] (two kernels: split attention with the RoPE and append, combine).
// `partial` is the float32 scratch of the split attention (decode_attention_scratch elements). Returns
// [B, Hq, D].
int64_t decode_attention_splits(int64_t batch, int64_t n_kv_heads, int64_t capacity, int64_t* chunk);
int64_t decode_attention_scratch(int64_t batch, int64_t n_q_heads, int64_t head_dim, int64_t splits);
bool fused_full_attention_supported(const at::Tensor& like, int64_t head_dim, int64_t group);
at::Tensor fused_full_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                             const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                             const at::Tensor& slot_positions, const at::Tensor& partial, int64_t n_q_heads,
                             double softmax_scale);
// An eviction policy's decode step (policies/policy.h, FusedEviction; kernels::DecodeAttentionArgs, `evict`)
// in the same two kernels (a third when the rule updates scores) on its compact cache of C slots: RoPE, the
// victim slot chosen by the rule from slot_positions / scores [B, Hkv, C] (float32), the token written there,
// attention over every valid slot, then slot_positions and scores updated as KVCache::decode_attention with
// the policy's own methods leaves them. `scratch` is float32 of decode_eviction_scratch() elements. Returns
// [B, Hq, D].
int64_t decode_eviction_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                                int64_t capacity, int64_t splits);
struct FusedEviction;
at::Tensor fused_eviction_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                 const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                 const at::Tensor& slot_positions, const at::Tensor& scores, const FusedEviction& rule,
                                 const at::Tensor& scratch, int64_t n_q_heads, double softmax_scale);
// Quest's decode step (policies/policy.h, FusedPages; kernels::QuestArgs) in four kernels on its full-length
// cache (slot p holds position p): RoPE, the token written to slot positions[b] and folded into its page's
// min/max, the page bounds, the top k_pages pages, attention over their valid slots. `scratch` is float32 of
// decode_pages_scratch() elements; *attended gets a [B, Hkv] int64 view of it: the valid slots attended per
// KV head; `attended_max` [B] int64, when defined, keeps the maximum of those counts over the KV heads (and over
// the layers of a step: the kernels update it in place). Returns [B, Hq, D].
int64_t decode_pages_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                             int64_t n_pages, int64_t k_pages, int64_t page_size);
bool fused_pages_supported(int64_t n_pages);
at::Tensor fused_pages_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                              const at::Tensor& slot_positions, const at::Tensor& page_min, const at::Tensor& page_max,
                              int64_t page_size, int64_t k_pages, const at::Tensor& scratch, int64_t n_q_heads,
                              double softmax_scale, at::Tensor* attended, const at::Tensor& attended_max = {});
// InfLLM's decode step (policies/policy.h, FusedBlocks; kernels::InfLLMArgs) in four kernels on its full-length
// cache: RoPE, the token written to slot positions[b], the memory blocks' relevances from their representative
// keys, the top blocks and the list of attended slots (initial tokens, local window, chosen blocks), the
// representative-score update of `scores` [B, Hkv, C] (float32), attention over the listed slots. `block_sums`
// (make_block_sums) keeps the final blocks' representative key sums across steps. `scratch` is float32 of
// decode_blocks_scratch() elements; *attended and attended_max as fused_pages_decode's. Returns [B, Hq, D].
struct FusedBlocks;
struct LayerCache;
int64_t decode_blocks_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                              int64_t capacity, const FusedBlocks& rule);
bool fused_blocks_supported(int64_t capacity, const FusedBlocks& rule);
at::Tensor fused_blocks_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                               const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                               const at::Tensor& slot_positions, const at::Tensor& scores, const at::Tensor& block_sums,
                               const FusedBlocks& rule, const at::Tensor& scratch, int64_t n_q_heads,
                               double softmax_scale, at::Tensor* attended, const at::Tensor& attended_max = {});
// InfLLM's kept key sums for `cache` (its keys [B, Hkv, C, D]): [B, Hkv, n_blocks, D] float32 zeros, n_blocks
// the memory blocks over the capacity (slots [n_sink + j block_size, + block_size)).
at::Tensor make_block_sums(const LayerCache& cache, const FusedBlocks& rule);
// Row `row`'s sums once a prompt of `prompt_len` tokens is stored (slot p holds position p) and its scores are
// final up to position prompt_len - local - 1: for each block all of whose slots lie before prompt_len - local (no
// decode step adds to their scores), the sum of its `reps` held tokens with the highest scores (the lower slot
// among equal ones; fewer when fewer are held) in float32; zeros for the later blocks (the decode step fills
// each as it becomes final). Plain ATen: runs on any device.
void prefill_block_sums(at::Tensor& block_sums, const LayerCache& cache, int64_t row, int64_t prompt_len,
                        const FusedBlocks& rule);
// Attention alone (q [B, Hq, D] already roped, the token already in the cache), as the reference computes it.
at::Tensor reference_full_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                    const at::Tensor& positions, double softmax_scale);

// SwiGLU activation on a fused gate/up projection [N, 2I] -> [N, I].
at::Tensor fused_silu_mul(const at::Tensor& gate_up);
at::Tensor reference_silu_mul(const at::Tensor& gate_up);

// Grouped expert GEMV: out[p] = w[e(p)] @ x[p / input_div] for the pairs p grouped by expert (order [P]
// int64, offsets [E + 1] int64 as from group_pairs_by_expert). w [E, N, K] -> out [P, N].
at::Tensor grouped_expert_gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& order,
                               const at::Tensor& offsets, int64_t input_div);
at::Tensor reference_grouped_expert_gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& order,
                                         const at::Tensor& offsets, int64_t input_div);

// Pairs (token, slot) of a top-k routing `experts` [T, k] grouped by expert on the device, with no host
// read: order [T k] (pair indices, stable by expert) and offsets [E + 1].
std::pair<at::Tensor, at::Tensor> group_pairs_by_expert(const at::Tensor& experts, int64_t num_experts);

// A linear layer of a decode step with its neighbours fused in (see kernels::GemvArgs): with norm_weight,
// x is first replaced by the Hugging Face RMSNorm of x times norm_weight (also returned in *normed when
// given); then y = x @ w^T (+ bias); with swiglu, w is [gate; up] ([2I, K]) and y = silu(gate) * up; with a
// residual, y = residual + y; with float_out, the result comes back as float32. Each step rounds to x's
// dtype as the separate Hugging Face ops do. fused_linear runs one kernel on CUDA for up to
// fused_linear_max_rows(dtype) rows (the CUDA-core GEMV for one row by default, where it measured faster
// than cuBLAS, slower for two to four; LIL_GEMV_MAX_ROWS=0..4 sets it; then, when
// tensor_core_linear() is on, for bf16/f16 on a Hopper GPU the tensor-core kernel up to kernels::kMmaMaxRows)
// and the separate ops (cuBLAS) beyond;
// reference_linear is the plain ATen composition.
struct LinearOptions {
  at::Tensor norm_weight;
  double eps = 0;
  at::Tensor bias;
  at::Tensor residual;
  bool swiglu = false;
  bool float_out = false;
  at::Tensor* normed = nullptr;
  // Weights the next kernels will read (contiguous CUDA tensors, usually row blocks of the next layers'), asked
  // of L2 as the GEMV finishes (kernels::GemvArgs::prefetch; the first kernels::kMaxPrefetchRanges). A hint:
  // the result is the same; other kernels, and tensors not 16-byte aligned, ignore it.
  std::vector<at::Tensor> l2_prefetch;
};
at::Tensor fused_linear(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o);
at::Tensor reference_linear(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o);
bool fused_linear_one_kernel(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o);
int64_t fused_linear_max_rows(c10::ScalarType dtype);  // 0 without CUDA
// The tensor-core kernel for 5..32 rows is off by default: measured on an H100 it is slower than cuBLAS with the
// separate norm/SwiGLU kernels (results/gpu/README.md, ninth session). LIL_MMA_LINEAR=1 (read once) or
// set_tensor_core_linear turns it on.
bool tensor_core_linear();
void set_tensor_core_linear(bool on);
// `full` and gathered (quest, infllm) decode attention of bf16 / fp16 caches on the tensor cores
// (kernels::DecodeAttentionArgs::tensor_cores): on by default; LIL_ATTN_MMA=0 (read once) or
// set_tensor_core_attention(false) selects the scalar kernel.
bool tensor_core_attention();
void set_tensor_core_attention(bool on);
// Bytes of each next weight matrix a decode step's GEMVs ask L2 for (LinearOptions::l2_prefetch, set by
// CausalLM::decode_fused): LIL_L2_PREFETCH_MB (read once) or set_l2_prefetch_bytes; 0 (off) by default, as
// measured slower on an H100.
int64_t l2_prefetch_bytes();
void set_l2_prefetch_bytes(int64_t bytes);
// Rows up to which the CUDA-core GEMV takes a linear layer (fused_linear); more go to the tensor-core kernel when
// tensor_core_linear() is on, else to cuBLAS. LIL_GEMV_MAX_ROWS=0..4 (read once; 0 sends every row to cuBLAS) or
// set_gemv_max_rows; 1 by default: the GEMV measured faster than cuBLAS for one row and slower for two to four.
int64_t gemv_max_rows();
void set_gemv_max_rows(int64_t rows);

// Linear layers that follow one another, e.g. a decode step's o_proj + residual, norm + gate/up + SwiGLU,
// down + residual and the next layer's norm + QKV. Link i reads the chain's x (input = -1) or an earlier
// link's output, and adds o.residual, or an earlier link's output when residual >= 0; o.normed is not
// supported. Returns every link's output, each equal to fused_linear on the same operands: for a few rows
// (up to kernels::kGemvMaxRows) in one kernel (kernels::gemv_chain) when gemv_chain() is on; otherwise link
// by link.
struct ChainedLinear {
  at::Tensor w;
  LinearOptions o;
  int input = -1;
  int residual = -1;
};
std::vector<at::Tensor> fused_linear_chain(const at::Tensor& x, const std::vector<ChainedLinear>& links);
// Off by default: measured on an H100 the one-kernel chain made the 1.5B decode step 2.5% slower (results/gpu/
// README.md, tenth session). LIL_GEMV_CHAIN=1 (read once) or set_gemv_chain(true) turns it on.
bool gemv_chain();
void set_gemv_chain(bool on);

// The Qwen2-MoE block of a decode step for a few tokens, from the input of the layer's post-attention norm:
// returns residual + moe(rms_norm(x) * norm_weight) in three kernels (router + shared-expert gate with the
// norm fused in; top-k and the selected experts' gate/up with the shared expert's; down projections, routing
// weights, shared gate and residual). router_and_gate is [E + 1, H]: the router's rows, then the shared
// expert gate's. Summation order and roundings as moe_forward (Hugging Face: experts one by one in
// increasing id, then the shared expert, then the residual). fused_moe_supported says when it applies.
struct MoeWeights;
bool fused_moe_supported(const MoeWeights& w, const at::Tensor& x, int64_t top_k);
at::Tensor fused_moe_block(const MoeWeights& w, const at::Tensor& x, const at::Tensor& norm_weight, double eps,
                           int64_t top_k, bool norm_topk_prob);

}  // namespace lil
