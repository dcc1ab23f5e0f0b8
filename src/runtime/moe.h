#pragma once
// The feed-forward blocks of the decoder: the dense SwiGLU MLP and the Qwen2-MoE sparse block (Hugging Face
// Qwen2MoeSparseMoeBlock): a softmax router picks top-k routed experts per token, each a small SwiGLU MLP
// weighted by its routing probability, plus one always-on shared expert scaled by a sigmoid gate.
//
// This is the plain CPU-first path (the reference a fused GPU path will be tested against): tokens are
// grouped by expert, each expert with at least one token runs once on its group, and the results are
// index_add-ed back, so a step over T tokens makes at most min(num_experts, T * top_k) expert calls.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lil {

// One SwiGLU MLP: down(silu(gate(x)) * up(x)). Weights in torch Linear layout [out, in].
struct SwiGluWeights {
  at::Tensor gate_proj, up_proj, down_proj;  // [I, H], [I, H], [H, I]
  at::Tensor gate_bias, up_bias, down_bias;  // undefined when absent
  at::Tensor gate_up;                        // [2I, H] fused (CUDA); gate_proj/up_proj are then views of it
  bool defined() const { return gate_proj.defined(); }
};
at::Tensor swiglu(const SwiGluWeights& w, const at::Tensor& x);

struct MoeWeights {
  at::Tensor router;                 // [E, H] (HF `mlp.gate.weight`)
  // The routed experts stacked along a leading expert axis (HF `mlp.experts.<e>.*_proj.weight`).
  at::Tensor experts_gate_proj;      // [E, I, H]
  at::Tensor experts_up_proj;        // [E, I, H]
  at::Tensor experts_down_proj;      // [E, H, I]
  at::Tensor experts_gate_up;        // [E, 2I, H] fused (CUDA); the two above are then views of it
  SwiGluWeights shared_expert;       // intermediate size shared_expert_intermediate_size
  at::Tensor shared_expert_gate;     // [1, H]
  at::Tensor router_and_gate;        // [E + 1, H] fused (CUDA): router rows, then the shared gate's; the two
                                     // above are then views of it
  bool defined() const { return router.defined(); }
  int64_t num_experts() const { return router.size(0); }
};

// The top-k routed experts of each token of x [T, H].
struct MoeRouting {
  at::Tensor experts;  // [T, k] int64, by decreasing routing probability
  at::Tensor weights;  // [T, k] in x's dtype
};
MoeRouting route_tokens(const at::Tensor& router, const at::Tensor& x, int64_t top_k, bool norm_topk_prob);

// The (token, slot) pairs of a routing, grouped by expert: group g holds the pairs routed to experts[g], at
// positions [offsets[g], offsets[g + 1]) of `tokens` and `weights`. Only experts with at least one token
// have a group; groups are in increasing expert order.
struct ExpertGroups {
  at::Tensor tokens;              // [T * k] int64 token index of each pair
  at::Tensor weights;             // [T * k] routing weight of each pair
  std::vector<int64_t> experts;   // increasing
  std::vector<int64_t> offsets;   // experts.size() + 1 entries
};
ExpertGroups group_by_expert(const MoeRouting& routing, int64_t num_experts);

// The sparse block on x [T, H] -> [T, H], in x's dtype.
at::Tensor moe_forward(const MoeWeights& w, const at::Tensor& x, int64_t top_k, bool norm_topk_prob);

// The same block on the GPU with no host read (capturable in a CUDA graph): routing, grouping of the
// (token, slot) pairs by expert and the expert GEMVs all on the device; each selected expert's weights are
// read once for all its tokens, unselected experts are not read. Needs experts_gate_up (fused) and CUDA.
// The k expert outputs of a token are summed in float32 (Hugging Face adds them one by one in x's dtype).
at::Tensor moe_forward_grouped(const MoeWeights& w, const at::Tensor& x, int64_t top_k, bool norm_topk_prob);

}  // namespace lil
