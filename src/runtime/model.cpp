#include "runtime/model.h"

#include <cmath>
#include <tuple>

#include <ATen/ATen.h>
#include <torch/version.h>

#include "core/error.h"
#include "core/checkpoint_validate.h"
#include "core/safetensors.h"
#include "policies/prompt_attention.h"
#include "runtime/kv_cache.h"

namespace lil {

namespace {

c10::ScalarType to_scalar_type(DType dtype, const std::string& where) {
  switch (dtype) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    default: fail_at(where, "weights must be F32, F16 or BF16, got " + dtype_name(dtype));
  }
}

// Queries per attention chunk in the dense prefill: bounds the [heads, chunk, T] score tensor.
constexpr int64_t kPrefillQueryChunk = 1024;

}  // namespace

at::Tensor rope_inverse_frequencies(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(at::scalar_tensor(config.rope_theta, at::kFloat), exponents);
  const RopeScaling& s = config.rope_scaling;
  if (s.type == "default" || s.type.empty()) return inv_freq;
  if (s.type == "linear") return inv_freq / s.factor;
  if (s.type == "llama3") {
    const double old_context = static_cast<double>(s.original_max_position_embeddings);
    const double low_freq_wavelen = old_context / s.low_freq_factor;
    const double high_freq_wavelen = old_context / s.high_freq_factor;
    at::Tensor wavelen = 2.0 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
    at::Tensor smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    at::Tensor medium = wavelen.ge(high_freq_wavelen).logical_and(wavelen.le(low_freq_wavelen));
    return at::where(medium, smoothed, scaled);
  }
  fail_at("config.json: rope_scaling", "rope type '" + s.type + "' is not supported (default, linear, llama3)");
}

CausalLM::CausalLM(ModelConfig config, c10::ScalarType dtype, c10::Device device)
    : config_(std::move(config)), dtype_(dtype), device_(device) {
  inv_freq_ = rope_inverse_frequencies(config_).to(device_);
}

double CausalLM::softmax_scale() const { return 1.0 / std::sqrt(static_cast<double>(config_.head_dim)); }

std::unique_ptr<CausalLM> CausalLM::load(const std::string& dir, c10::ScalarType dtype, c10::Device device,
                                         bool fuse) {
  ModelConfig config = load_model_config(dir);
  const std::string& rope = config.rope_scaling.type;
  if (!(rope.empty() || rope == "default" || rope == "linear" || rope == "llama3")) {
    fail_at(dir + "/config.json", "key 'rope_scaling': rope type '" + rope +
                                      "' is not supported by lil's model runtime (default, linear, llama3)");
  }
  Checkpoint checkpoint = Checkpoint::open_dir(dir);
  validate_checkpoint(config, checkpoint);
  std::unique_ptr<CausalLM> model(new CausalLM(config, dtype, device));
  auto fetch = [&](const std::string& name) -> at::Tensor {
    if (!checkpoint.has(name)) return at::Tensor();
    const TensorView& view = checkpoint.get(name);
    const auto src_type = to_scalar_type(view.dtype, view.file + ": tensor '" + name + "'");
    at::Tensor mapped = at::from_blob(const_cast<void*>(view.data), view.shape, at::TensorOptions().dtype(src_type));
    at::Tensor t = mapped.to(at::TensorOptions().dtype(dtype).device(device), /*non_blocking=*/false, /*copy=*/true);
    model->weight_bytes_ += static_cast<int64_t>(t.nbytes());
    return t;
  };
  model->embed_tokens_ = fetch("model.embed_tokens.weight");
  model->final_norm_ = fetch("model.norm.weight");
  model->lm_head_ = config.tie_word_embeddings || !checkpoint.has("lm_head.weight") ? model->embed_tokens_
                                                                                   : fetch("lm_head.weight");
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights w;
    w.input_norm = fetch(p + "input_layernorm.weight");
    w.post_attention_norm = fetch(p + "post_attention_layernorm.weight");
    w.q_proj = fetch(p + "self_attn.q_proj.weight");
    w.k_proj = fetch(p + "self_attn.k_proj.weight");
    w.v_proj = fetch(p + "self_attn.v_proj.weight");
    w.o_proj = fetch(p + "self_attn.o_proj.weight");
    w.q_bias = fetch(p + "self_attn.q_proj.bias");
    w.k_bias = fetch(p + "self_attn.k_proj.bias");
    w.v_bias = fetch(p + "self_attn.v_proj.bias");
    w.o_bias = fetch(p + "self_attn.o_proj.bias");
    auto fetch_swiglu = [&](const std::string& prefix) {
      return SwiGluWeights{fetch(prefix + "gate_proj.weight"), fetch(prefix + "up_proj.weight"),
                           fetch(prefix + "down_proj.weight"), fetch(prefix + "gate_proj.bias"),
                           fetch(prefix + "up_proj.bias"),     fetch(prefix + "down_proj.bias")};
    };
    if (config.layer_is_moe(i)) {
      // Checkpoints store one tensor per expert; the runtime keeps each projection stacked [E, ...].
      auto fetch_stacked = [&](const std::string& projection) {
        std::vector<at::Tensor> per_expert;
        for (int64_t e = 0; e < config.num_experts; ++e) {
          per_expert.push_back(fetch(p + "mlp.experts." + std::to_string(e) + "." + projection + ".weight"));
        }
        return at::stack(per_expert);
      };
      w.moe.router = fetch(p + "mlp.gate.weight");
      w.moe.experts_gate_proj = fetch_stacked("gate_proj");
      w.moe.experts_up_proj = fetch_stacked("up_proj");
      w.moe.experts_down_proj = fetch_stacked("down_proj");
      w.moe.shared_expert = fetch_swiglu(p + "mlp.shared_expert.");
      w.moe.shared_expert_gate = fetch(p + "mlp.shared_expert_gate.weight");
    } else {
      w.mlp = fetch_swiglu(p + "mlp.");
    }
    model->layers_.push_back(std::move(w));
  }
  if (device.is_cuda() && fuse) model->fuse_projections();
  return model;
}

std::unique_ptr<CausalLM> CausalLM::random(const ModelConfig& config, c10::ScalarType dtype, c10::Device device,
                                           uint64_t seed, bool fuse) {
  std::unique_ptr<CausalLM> model(new CausalLM(config, dtype, device));
  at::manual_seed(seed);
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  auto normal = [&](std::vector<int64_t> shape) {
    at::Tensor t = at::randn(shape, opts) * 0.02;
    model->weight_bytes_ += static_cast<int64_t>(t.nbytes());
    return t;
  };
  auto ones = [&](int64_t n) {
    at::Tensor t = at::ones({n}, opts);
    model->weight_bytes_ += static_cast<int64_t>(t.nbytes());
    return t;
  };
  const int64_t h = config.hidden_size, d = config.head_dim;
  const int64_t q_out = config.num_attention_heads * d, kv_out = config.num_key_value_heads * d;
  const bool qkv_bias = config.attention_bias || config.architecture != Architecture::Llama;
  model->embed_tokens_ = normal({config.vocab_size, h});
  model->lm_head_ = config.tie_word_embeddings ? model->embed_tokens_ : normal({config.vocab_size, h});
  model->final_norm_ = ones(h);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    LayerWeights w;
    w.input_norm = ones(h);
    w.post_attention_norm = ones(h);
    w.q_proj = normal({q_out, h});
    w.k_proj = normal({kv_out, h});
    w.v_proj = normal({kv_out, h});
    w.o_proj = normal({h, q_out});
    if (qkv_bias) {
      w.q_bias = normal({q_out});
      w.k_bias = normal({kv_out});
      w.v_bias = normal({kv_out});
    }
    auto random_swiglu = [&](int64_t width) {
      SwiGluWeights mlp;
      mlp.gate_proj = normal({width, h});
      mlp.up_proj = normal({width, h});
      mlp.down_proj = normal({h, width});
      return mlp;
    };
    if (config.layer_is_moe(i)) {
      const int64_t experts = config.num_experts, width = config.moe_intermediate_size;
      w.moe.router = normal({experts, h});
      w.moe.experts_gate_proj = normal({experts, width, h});
      w.moe.experts_up_proj = normal({experts, width, h});
      w.moe.experts_down_proj = normal({experts, h, width});
      w.moe.shared_expert = random_swiglu(config.shared_expert_intermediate_size);
      w.moe.shared_expert_gate = normal({1, h});
    } else {
      w.mlp = random_swiglu(config.intermediate_size);
    }
    model->layers_.push_back(std::move(w));
  }
  if (device.is_cuda() && fuse) model->fuse_projections();
  return model;
}

void CausalLM::reserve_positions(int64_t max_context) {
  if (rope_cos_.defined() && rope_cos_.size(0) >= max_context) return;
  int64_t n = 4096;
  while (n < max_context) n *= 2;
  // float32 angles (position x inverse frequency), as HF computes them, then cast to the model dtype.
  at::Tensor positions = at::arange(n, at::TensorOptions().dtype(at::kLong).device(device_)).to(at::kFloat);
  at::Tensor freqs = positions.unsqueeze(1) * inv_freq_.unsqueeze(0);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  rope_cos_ = emb.cos().to(dtype_);
  rope_sin_ = emb.sin().to(dtype_);
}

std::pair<at::Tensor, at::Tensor> CausalLM::rope_at(const at::Tensor& positions) const {
  return {rope_cos_.index_select(0, positions), rope_sin_.index_select(0, positions)};
}

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}
at::Tensor maybe_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}
}  // namespace

at::Tensor CausalLM::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(variance + config_.rms_norm_eps);
  return weight * xf.to(x.scalar_type());
}

at::Tensor CausalLM::feed_forward(int64_t layer, const at::Tensor& x) const {
  const LayerWeights& w = this->layer(layer);
  if (w.moe.defined()) return moe_forward(w.moe, x, config_.num_experts_per_tok, config_.norm_topk_prob);
  return swiglu(w.mlp, x);
}

at::Tensor CausalLM::logits(const at::Tensor& hidden) const {
  return at::linear(rms_norm(hidden, final_norm_), lm_head_).to(at::kFloat);
}

at::Tensor CausalLM::prefill(const at::Tensor& ids, int64_t row, KVCache& cache, bool all_logits) {
  const int64_t seq_len = ids.size(0);
  const int64_t n_heads = config_.num_attention_heads, n_kv = config_.num_key_value_heads, d = config_.head_dim;
  reserve_positions(seq_len);
  at::Tensor positions = at::arange(seq_len, at::TensorOptions().dtype(at::kLong).device(device_));
  auto [cos, sin] = rope_at(positions);  // [T, D]
  const double scale = softmax_scale();
  at::Tensor x = embed_tokens_.index_select(0, ids.to(device_));  // [T, H]
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    at::Tensor h = rms_norm(x, w.input_norm);
    at::Tensor q = maybe_linear(h, w.q_proj, w.q_bias).view({seq_len, n_heads, d}).transpose(0, 1);  // [Hq,T,D]
    at::Tensor k = maybe_linear(h, w.k_proj, w.k_bias).view({seq_len, n_kv, d}).transpose(0, 1);     // [Hkv,T,D]
    at::Tensor v = maybe_linear(h, w.v_proj, w.v_bias).view({seq_len, n_kv, d}).transpose(0, 1);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    cache.store_prefill(static_cast<int64_t>(l), row, q, k, v, scale);

    at::Tensor attn;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    if (x.is_cuda()) {
      // The fastest attention the LibTorch build offers (flash / memory-efficient), GQA without copies.
      attn = at::scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), {}, 0.0, /*is_causal=*/true,
                                              scale, /*enable_gqa=*/true)
                 .squeeze(0).transpose(0, 1).reshape({seq_len, n_heads * d});
    }
#endif
    if (!attn.defined()) attn = dense_causal_attention(q, k, v, scale);
    x = x + maybe_linear(attn, w.o_proj, w.o_bias);
    x = x + feed_forward(static_cast<int64_t>(l), rms_norm(x, w.post_attention_norm));
  }
  return logits(all_logits ? x : x.slice(0, seq_len - 1));
}

at::Tensor CausalLM::dense_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            double scale) const {
  // Dense causal attention, GQA by grouping query heads per KV head, in query chunks. A chunk's queries see no key
  // past its last query: its scores stop there (causal_attention_probs masks the rest of the future).
  const int64_t seq_len = q.size(1), n_heads = q.size(0), n_kv = k.size(0), d = q.size(2);
  const int64_t group = n_heads / n_kv;
  at::Tensor qg = q.reshape({n_kv, group, seq_len, d});
  at::Tensor vg = v.unsqueeze(1);  // [Hkv,1,T,D]
  std::vector<at::Tensor> chunks;
  for (int64_t start = 0; start < seq_len; start += kPrefillQueryChunk) {
    const int64_t end = std::min(seq_len, start + kPrefillQueryChunk);
    at::Tensor probs =
        causal_attention_probs(qg.slice(2, start, end), k.slice(1, 0, end), start, scale, at::kFloat).to(dtype_);
    chunks.push_back(at::matmul(probs, vg.slice(2, 0, end)));  // [Hkv,G,c,D]
  }
  return at::cat(chunks, 2).reshape({n_heads, seq_len, d}).transpose(0, 1).reshape({seq_len, n_heads * d});
}

at::Tensor CausalLM::forward(const at::Tensor& ids) {
  const int64_t batch = ids.size(0), seq_len = ids.size(1);
  const int64_t n_heads = config_.num_attention_heads, n_kv = config_.num_key_value_heads, d = config_.head_dim;
  reserve_positions(seq_len);
  at::Tensor positions = at::arange(seq_len, at::TensorOptions().dtype(at::kLong).device(device_));
  auto [cos, sin] = rope_at(positions);  // [T, D], broadcast over batch and heads
  const double scale = softmax_scale();
  at::Tensor x = at::embedding(embed_tokens_, ids.to(device_));  // [B, T, H]
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    at::Tensor h = rms_norm(x, w.input_norm);
    at::Tensor q = maybe_linear(h, w.q_proj, w.q_bias).view({batch, seq_len, n_heads, d}).transpose(1, 2);
    at::Tensor k = maybe_linear(h, w.k_proj, w.k_bias).view({batch, seq_len, n_kv, d}).transpose(1, 2);
    at::Tensor v = maybe_linear(h, w.v_proj, w.v_bias).view({batch, seq_len, n_kv, d}).transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;  // [B, Hq, T, D]
    k = k * cos + rotate_half(k) * sin;  // [B, Hkv, T, D]
    at::Tensor attn;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    if (x.is_cuda()) {
      attn = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale, /*enable_gqa=*/true)
                 .transpose(1, 2).reshape({batch, seq_len, n_heads * d});
    }
#endif
    if (!attn.defined()) {  // the prefill's attention, one sequence at a time
      std::vector<at::Tensor> rows;
      for (int64_t b = 0; b < batch; ++b) rows.push_back(dense_causal_attention(q[b], k[b], v[b], scale));
      attn = at::stack(rows);  // [B, T, Hq D]
    }
    x = x + maybe_linear(attn, w.o_proj, w.o_bias);
    x = x + feed_forward(static_cast<int64_t>(l), rms_norm(x, w.post_attention_norm));
  }
  return logits(x);
}

std::vector<std::pair<std::string, at::Tensor>> CausalLM::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (t.defined()) out.emplace_back(name, t);
  };
  add("model.embed_tokens.weight", embed_tokens_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerWeights& w = layers_[i];
    if (w.moe.defined()) fail_at("CausalLM::named_parameters", "mixture-of-experts layers are not trainable in lil");
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", w.input_norm);
    for (const auto& [name, weight, bias] : {std::tuple{"q_proj", w.q_proj, w.q_bias}, std::tuple{"k_proj", w.k_proj, w.k_bias},
                                             std::tuple{"v_proj", w.v_proj, w.v_bias}, std::tuple{"o_proj", w.o_proj, w.o_bias}}) {
      add(p + "self_attn." + name + ".weight", weight);
      add(p + "self_attn." + name + ".bias", bias);
    }
    add(p + "post_attention_layernorm.weight", w.post_attention_norm);
    for (const auto& [name, weight, bias] : {std::tuple{"gate_proj", w.mlp.gate_proj, w.mlp.gate_bias},
                                             std::tuple{"up_proj", w.mlp.up_proj, w.mlp.up_bias},
                                             std::tuple{"down_proj", w.mlp.down_proj, w.mlp.down_bias}}) {
      add(p + "mlp." + name + ".weight", weight);
      add(p + "mlp." + name + ".bias", bias);
    }
  }
  add("model.norm.weight", final_norm_);
  if (!lm_head_.is_same(embed_tokens_)) add("lm_head.weight", lm_head_);
  return out;
}

at::Tensor CausalLM::decode(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache) {
  if (fused_decode()) return decode_fused(ids, positions, cache);
  const int64_t rows = ids.size(0);
  const int64_t n_heads = config_.num_attention_heads, n_kv = config_.num_key_value_heads, d = config_.head_dim;
  auto [cos, sin] = rope_at(positions);  // [B, D]
  cos = cos.unsqueeze(1);
  sin = sin.unsqueeze(1);
  const double scale = softmax_scale();
  at::Tensor x = embed_tokens_.index_select(0, ids);  // [B, H]
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& w = layers_[l];
    at::Tensor h = rms_norm(x, w.input_norm);
    at::Tensor q = maybe_linear(h, w.q_proj, w.q_bias).view({rows, n_heads, d});
    at::Tensor k = maybe_linear(h, w.k_proj, w.k_bias).view({rows, n_kv, d});
    at::Tensor v = maybe_linear(h, w.v_proj, w.v_bias).view({rows, n_kv, d});
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    at::Tensor attn = cache.decode_attention(static_cast<int64_t>(l), q, k, v, positions, scale);
    x = x + maybe_linear(attn.reshape({rows, n_heads * d}), w.o_proj, w.o_bias);
    x = x + feed_forward(static_cast<int64_t>(l), rms_norm(x, w.post_attention_norm));
  }
  return logits(x);
}

}  // namespace lil
