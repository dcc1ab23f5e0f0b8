#include "runtime/moe.h"

#include <ATen/ATen.h>

#include "runtime/fast_decode.h"

namespace lil {

namespace {
at::Tensor maybe_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}
}  // namespace

at::Tensor swiglu(const SwiGluWeights& w, const at::Tensor& x) {
  at::Tensor gate = maybe_linear(x, w.gate_proj, w.gate_bias);
  at::Tensor up = maybe_linear(x, w.up_proj, w.up_bias);
  return maybe_linear(at::silu(gate) * up, w.down_proj, w.down_bias);
}

MoeRouting route_tokens(const at::Tensor& router, const at::Tensor& x, int64_t top_k, bool norm_topk_prob) {
  // As Hugging Face: router logits in the hidden dtype, softmax over all experts in float32, top-k of the
  // probabilities, optional renormalisation over the chosen k (still float32), then the weights are cast to
  // the hidden dtype. transformers 4.x casts them there; 5.x keeps them float32 and casts each expert's
  // weighted output instead. The two agree exactly in float32 and differ by one bf16 rounding otherwise;
  // lil follows 4.x, the code the published Qwen1.5-MoE checkpoints were released with.
  at::Tensor probs = at::softmax(at::linear(x, router), -1, at::kFloat);
  auto [top_weights, top_experts] = at::topk(probs, top_k, -1, /*largest=*/true, /*sorted=*/true);
  if (norm_topk_prob) top_weights = top_weights / top_weights.sum(-1, /*keepdim=*/true);
  return {top_experts, top_weights.to(x.scalar_type())};
}

ExpertGroups group_by_expert(const MoeRouting& routing, int64_t num_experts) {
  const int64_t top_k = routing.experts.size(1);
  at::Tensor flat_experts = routing.experts.reshape({-1});
  // A stable sort keeps the pairs of one expert in token order (not needed for the result, since a token
  // meets each expert at most once, but it makes the groups reproducible).
  at::Tensor order = std::get<1>(at::sort(flat_experts, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  ExpertGroups groups;
  groups.tokens = at::div(order, top_k, "floor");
  groups.weights = routing.weights.reshape({-1}).index_select(0, order);
  at::Tensor counts = at::bincount(flat_experts, /*weights=*/{}, num_experts).to(at::kCPU);
  const int64_t* count = counts.data_ptr<int64_t>();
  groups.offsets.push_back(0);
  for (int64_t e = 0; e < num_experts; ++e) {
    if (count[e] == 0) continue;
    groups.experts.push_back(e);
    groups.offsets.push_back(groups.offsets.back() + count[e]);
  }
  return groups;
}

at::Tensor moe_forward(const MoeWeights& w, const at::Tensor& x, int64_t top_k, bool norm_topk_prob) {
  const ExpertGroups groups = group_by_expert(route_tokens(w.router, x, top_k, norm_topk_prob), w.num_experts());
  // Experts are accumulated in increasing expert order, then the shared expert is added: Hugging Face's
  // summation order.
  at::Tensor out = at::zeros_like(x);
  for (size_t g = 0; g < groups.experts.size(); ++g) {
    const int64_t e = groups.experts[g];
    const int64_t begin = groups.offsets[g], end = groups.offsets[g + 1];
    at::Tensor tokens = groups.tokens.slice(0, begin, end);
    at::Tensor group_x = x.index_select(0, tokens);
    at::Tensor hidden = at::silu(at::linear(group_x, w.experts_gate_proj[e])) * at::linear(group_x, w.experts_up_proj[e]);
    at::Tensor expert_out = at::linear(hidden, w.experts_down_proj[e]) * groups.weights.slice(0, begin, end).unsqueeze(1);
    out.index_add_(0, tokens, expert_out);
  }
  at::Tensor shared = at::sigmoid(at::linear(x, w.shared_expert_gate)) * swiglu(w.shared_expert, x);
  return out + shared;
}

at::Tensor moe_forward_grouped(const MoeWeights& w, const at::Tensor& x, int64_t top_k, bool norm_topk_prob) {
  const int64_t tokens = x.size(0), hidden = x.size(1);
  const MoeRouting routing = route_tokens(w.router, x, top_k, norm_topk_prob);
  auto [order, offsets] = group_pairs_by_expert(routing.experts, w.num_experts());
  at::Tensor gate_up = grouped_expert_gemv(x.contiguous(), w.experts_gate_up, order, offsets, top_k);  // [T k, 2I]
  at::Tensor expert_out = grouped_expert_gemv(fused_silu_mul(gate_up), w.experts_down_proj.contiguous(), order, offsets, 1);
  at::Tensor routed = (expert_out.view({tokens, top_k, hidden}) * routing.weights.unsqueeze(-1)).sum(1);
  const SwiGluWeights& s = w.shared_expert;
  at::Tensor shared = s.gate_up.defined() && !s.down_bias.defined()
                          ? at::linear(fused_silu_mul(at::linear(x, s.gate_up)), s.down_proj)
                          : swiglu(s, x);
  return routed + at::sigmoid(at::linear(x, w.shared_expert_gate)) * shared;
}

}  // namespace lil
