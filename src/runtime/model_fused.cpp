// The GPU fast path of CausalLM (see model.h: decode_fused, fuse_projections). The plain path in model.cpp
// is its reference: tests/torch/fast_decode_test.cpp checks that both give the same tokens.
#include <ATen/ATen.h>

#include "runtime/fast_decode.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

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

at::Tensor linear_or_addmm(const at::Tensor& residual, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  // residual + x @ w^T in one GEMM (the residual is the C operand); a bias, when present, is added after.
  at::Tensor out = at::addmm(residual, x, w.t());
  return b.defined() ? out + b : out;
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
    }
  }
}

at::Tensor CausalLM::feed_forward_fused(int64_t layer, const at::Tensor& x, const at::Tensor& residual) const {
  const LayerWeights& w = this->layer(layer);
  if (w.moe.defined()) {
    if (w.moe.experts_gate_up.defined()) {
      return residual + moe_forward_grouped(w.moe, x, config_.num_experts_per_tok, config_.norm_topk_prob);
    }
    return residual + moe_forward(w.moe, x, config_.num_experts_per_tok, config_.norm_topk_prob);
  }
  if (!w.mlp.gate_up.defined()) return residual + swiglu(w.mlp, x);
  at::Tensor hidden = fused_silu_mul(at::linear(x, w.mlp.gate_up));
  return linear_or_addmm(residual, hidden, w.mlp.down_proj, w.mlp.down_bias);
}

at::Tensor CausalLM::decode_fused(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache) {
  const int64_t rows = ids.size(0);
  const int64_t n_heads = config_.num_attention_heads, n_kv = config_.num_key_value_heads, d = config_.head_dim;
  const double scale = softmax_scale();
  const double eps = config_.rms_norm_eps;
  const bool fused_full = cache.fused_full_attention();
  at::Tensor x = embed_tokens_.index_select(0, ids);  // [B, H]
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    const int64_t layer = static_cast<int64_t>(l);
    at::Tensor h = fused_rms_norm(x, w.input_norm, eps);
    at::Tensor qkv;
    if (w.qkv_proj.defined()) {
      qkv = w.qkv_bias.defined() ? at::linear(h, w.qkv_proj, w.qkv_bias) : at::linear(h, w.qkv_proj);
    } else {
      auto lin = [&](const at::Tensor& weight, const at::Tensor& bias) {
        return bias.defined() ? at::linear(h, weight, bias) : at::linear(h, weight);
      };
      qkv = at::cat({lin(w.q_proj, w.q_bias), lin(w.k_proj, w.k_bias), lin(w.v_proj, w.v_bias)}, 1);
    }
    at::Tensor attn;
    if (fused_full) {
      attn = cache.decode_full_fused(layer, qkv, rope_cos_, rope_sin_, positions, scale);
    } else {
      RopedQKV r = fused_rope(qkv, rope_cos_, rope_sin_, positions, n_heads, n_kv, d);
      attn = cache.decode_attention(layer, r.q, r.k, r.v, positions, scale);
    }
    x = linear_or_addmm(x, attn.reshape({rows, n_heads * d}), w.o_proj, w.o_bias);
    x = feed_forward_fused(layer, fused_rms_norm(x, w.post_attention_norm, eps), x);
  }
  return at::linear(fused_rms_norm(x, final_norm_, eps), lm_head_).to(at::kFloat);
}

}  // namespace lil
