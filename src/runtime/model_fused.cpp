// The GPU fast path of CausalLM (see model.h: decode_fused, fuse_projections). The plain path in model.cpp
// is its reference: tests/torch/fast_decode_test.cpp checks that both give the same tokens.
#include <algorithm>
#include <vector>

#include <ATen/ATen.h>

#include "runtime/fast_decode.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

#ifdef LIL_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace lil {

namespace {

// Stores `parts` (each [rows_i, ...] along `dim`) as one tensor and returns it; each part is replaced by a
// view of its rows, so the memory is held once.
at::Tensor fuse(std::vector<at::Tensor*> parts, int64_t dim) {
  std::vector<at::Tensor> pieces;
  for (at::Tensor* p : parts) pieces.push_back(*p);
  at::Tensor fused = at::cat(pieces, dim);
  int64_t offset = 0;
  for (at::Tensor* p : parts) {
    const int64_t n = p->size(dim);
    *p = fused.narrow(dim, offset, n);
    offset += n;
  }
  return fused;
}

void fuse_swiglu(SwiGluWeights& w) {
  if (!w.defined() || w.gate_bias.defined() || w.up_bias.defined()) return;
  w.gate_up = fuse({&w.gate_proj, &w.up_proj}, 0);
}

// The fused linear layers of a dense decoder layer: input norm + QKV (+ bias), post-attention norm + gate/up +
// SwiGLU, down (+ bias) + residual. One description for the layer-by-layer path and the chain.
LinearOptions qkv_options(const LayerWeights& w, double eps) {
  LinearOptions o;
  o.norm_weight = w.input_norm;
  o.eps = eps;
  o.bias = w.qkv_bias;
  return o;
}
LinearOptions gate_up_options(const LayerWeights& w, double eps) {
  LinearOptions o;
  o.norm_weight = w.post_attention_norm;
  o.eps = eps;
  o.swiglu = true;
  return o;
}
LinearOptions down_options(const LayerWeights& w, const at::Tensor& residual) {
  LinearOptions o;
  o.bias = w.mlp.down_bias;
  o.residual = residual;
  return o;
}

// Appends the first l2_prefetch_bytes() of w (whole rows) to `out`; of a [gate; up] weight (`halves`), as many
// rows of each half, the rows a SwiGLU GEMV reads first.
void prefetch_rows(std::vector<at::Tensor>& out, const at::Tensor& w, bool halves = false) {
  const int64_t budget = l2_prefetch_bytes();
  if (budget == 0 || !w.defined() || w.dim() != 2 || w.size(1) == 0) return;
  const int64_t row = w.size(1) * static_cast<int64_t>(w.element_size());
  const int64_t n = halves ? w.size(0) / 2 : w.size(0);
  const int64_t rows = std::min(n, budget / (halves ? 2 * row : row));
  if (rows == 0) return;
  out.push_back(w.narrow(0, 0, rows));
  if (halves) out.push_back(w.narrow(0, n, rows));
}

}  // namespace

bool CausalLM::fused_decode() const { return fused_decode_ && fused_kernels_available(embed_tokens_); }

void CausalLM::fuse_projections() {
  for (LayerWeights& w : layers_) {
    const bool biases = w.q_bias.defined() && w.k_bias.defined() && w.v_bias.defined();
    const bool no_biases = !w.q_bias.defined() && !w.k_bias.defined() && !w.v_bias.defined();
    if (!biases && !no_biases) continue;  // mixed biases: keep the projections apart
    w.qkv_proj = fuse({&w.q_proj, &w.k_proj, &w.v_proj}, 0);
    if (biases) w.qkv_bias = fuse({&w.q_bias, &w.k_bias, &w.v_bias}, 0);
    fuse_swiglu(w.mlp);
    if (w.moe.defined()) {
      fuse_swiglu(w.moe.shared_expert);
      w.moe.experts_gate_up = fuse({&w.moe.experts_gate_proj, &w.moe.experts_up_proj}, 1);
      w.moe.router_and_gate = fuse({&w.moe.router, &w.moe.shared_expert_gate}, 0);
    }
  }
}

at::Tensor CausalLM::feed_forward_fused(int64_t layer, const at::Tensor& residual, std::vector<at::Tensor> next) const {
  const LayerWeights& w = this->layer(layer);
  const double eps = config_.rms_norm_eps;
  if (w.moe.defined()) {
    const int64_t top_k = config_.num_experts_per_tok;
    if (fused_moe_supported(w.moe, residual, top_k)) {
      return fused_moe_block(w.moe, residual, w.post_attention_norm, eps, top_k, config_.norm_topk_prob);
    }
    at::Tensor x = fused_rms_norm(residual, w.post_attention_norm, eps);
    if (w.moe.experts_gate_up.defined()) return residual + moe_forward_grouped(w.moe, x, top_k, config_.norm_topk_prob);
    return residual + moe_forward(w.moe, x, top_k, config_.norm_topk_prob);
  }
  if (!w.mlp.gate_up.defined()) return residual + swiglu(w.mlp, fused_rms_norm(residual, w.post_attention_norm, eps));
  LinearOptions gate_up = gate_up_options(w, eps);
  prefetch_rows(gate_up.l2_prefetch, w.mlp.down_proj);
  LinearOptions down = down_options(w, residual);
  down.l2_prefetch = std::move(next);
  return fused_linear(fused_linear(residual, w.mlp.gate_up, gate_up), w.mlp.down_proj, down);
}

at::Tensor CausalLM::qkv_fused(int64_t layer, const at::Tensor& x) const {
  const LayerWeights& w = this->layer(layer);
  const double eps = config_.rms_norm_eps;
  if (w.qkv_proj.defined()) {
    LinearOptions o = qkv_options(w, eps);
    prefetch_rows(o.l2_prefetch, w.o_proj);
    if (!w.moe.defined()) prefetch_rows(o.l2_prefetch, w.mlp.gate_up, true);
    return fused_linear(x, w.qkv_proj, o);
  }
  at::Tensor h = fused_rms_norm(x, w.input_norm, eps);
  auto lin = [&](const at::Tensor& weight, const at::Tensor& bias) {
    return bias.defined() ? at::linear(h, weight, bias) : at::linear(h, weight);
  };
  return at::cat({lin(w.q_proj, w.q_bias), lin(w.k_proj, w.k_bias), lin(w.v_proj, w.v_bias)}, 1);
}

at::Tensor CausalLM::decode_fused(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache) {
  // Per layer: RMSNorm + QKV projection (+ bias) in one kernel, RoPE + cache append, attention, o_proj +
  // residual, RMSNorm + gate/up + SwiGLU, down + residual (kernels::gemv for a few rows; cuBLAS beyond). Each
  // GEMV asks L2 for (the first l2_prefetch_bytes() of each of) the weights read next, as it finishes: QKV for
  // o_proj and gate/up, gate/up for down, down for the next layer's QKV or the lm_head. For a
  // dense layer, when gemv_chain() is on, the four linear layers from o_proj to the next layer's QKV (or the
  // lm_head) are one chain (fused_linear_chain: one kernel for a few rows); off, the same layers one by one.
#ifdef LIL_WITH_CUDA
  // Each step is an NVTX range, so that a profiler can take the decode kernels out of a whole run (e.g.
  // `ncu --nvtx --nvtx-include "lil.decode/"`, scripts/gpu_session.sh profile); without a tool attached a no-op.
  struct StepRange {
    StepRange() { nvtxRangePushA("lil.decode"); }
    ~StepRange() { nvtxRangePop(); }
  } step_range;
#endif
  const int64_t rows = ids.size(0);
  const int64_t n_heads = config_.num_attention_heads, d = config_.head_dim;
  const double scale = softmax_scale();
  const double eps = config_.rms_norm_eps;
  const bool fused_attention = cache.fused_attention();
  LinearOptions head;
  head.norm_weight = final_norm_;
  head.eps = eps;
  head.float_out = true;
  at::Tensor x = embed_tokens_.index_select(0, ids);  // [B, H]
  at::Tensor qkv = qkv_fused(0, x);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    const int64_t layer = static_cast<int64_t>(l);
    const bool last = l + 1 == layers_.size();
    at::Tensor attn;
    if (fused_attention) {
      attn = cache.decode_fused(layer, qkv, rope_cos_, rope_sin_, positions, scale);
    } else {
      RopedQKV r = fused_rope(qkv, rope_cos_, rope_sin_, positions, n_heads, config_.num_key_value_heads, d);
      attn = cache.decode_attention(layer, r.q, r.k, r.v, positions, scale);
    }
    attn = attn.reshape({rows, n_heads * d}).contiguous();
    if (gemv_chain() && !w.moe.defined() && w.mlp.gate_up.defined() && (last || layers_[l + 1].qkv_proj.defined())) {
      std::vector<ChainedLinear> chain(4);
      chain[0].w = w.o_proj;  // o_proj + residual
      chain[0].o.bias = w.o_bias;
      chain[0].o.residual = x;
      chain[1].w = w.mlp.gate_up;  // norm + gate/up + SwiGLU
      chain[1].o = gate_up_options(w, eps);
      chain[1].input = 0;
      chain[2].w = w.mlp.down_proj;  // down + residual (link 0's output)
      chain[2].o = down_options(w, at::Tensor());
      chain[2].input = 1;
      chain[2].residual = 0;
      chain[3].input = 2;  // the next layer's norm + QKV, or the final norm + lm_head
      chain[3].w = last ? lm_head_ : layers_[l + 1].qkv_proj;
      chain[3].o = last ? head : qkv_options(layers_[l + 1], eps);
      std::vector<at::Tensor> outs = fused_linear_chain(attn, chain);
      if (last) return outs[3];
      x = outs[2];
      qkv = outs[3];
      continue;
    }
    LinearOptions o;
    o.bias = w.o_bias;
    o.residual = x;
    x = fused_linear(attn, w.o_proj, o);
    std::vector<at::Tensor> next;  // what the step reads after this layer
    prefetch_rows(next, last ? lm_head_ : layers_[l + 1].qkv_proj);
    x = feed_forward_fused(layer, x, std::move(next));
    if (!last) qkv = qkv_fused(layer + 1, x);
  }
  return fused_linear(x, lm_head_, head);
}

}  // namespace lil
