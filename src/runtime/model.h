#pragma once
// Decoder-only transformer of the Llama / Qwen2 / Qwen2-MoE families (HF semantics): embeddings, RMSNorm,
// RoPE (with llama3 / linear scaling), GQA attention, a SwiGLU MLP or (Qwen2-MoE sparse layers) a
// mixture-of-experts block, final norm, (tied) LM head. Prefill is dense and causal over one sequence; decode
// runs one token for every row of the batch through the KV cache, whose policy decides what is kept and
// attended.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "core/model_config.h"
#include "runtime/moe.h"

namespace lil {

class KVCache;

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;
  at::Tensor q_proj, k_proj, v_proj, o_proj;        // [out, in]
  at::Tensor q_bias, k_bias, v_bias, o_bias;        // undefined when absent
  // On CUDA the three projections are stored as one [q_out + 2 kv_out, in] tensor (one GEMM per decode step);
  // q_proj/k_proj/v_proj (and their biases) are then row views of it. Undefined on CPU.
  at::Tensor qkv_proj, qkv_bias;
  // Exactly one of the two feed-forward blocks is defined: `moe` on a sparse layer (config.layer_is_moe).
  SwiGluWeights mlp;
  MoeWeights moe;
};

class CausalLM {
 public:
  // Loads `<dir>/config.json` and the safetensors weights, converted to `dtype` on `device`. On CUDA the
  // q/k/v and gate/up projections are stored fused (the separate ones become views) unless `fuse` is false,
  // as training needs: its parameters must be independent leaf tensors.
  static std::unique_ptr<CausalLM> load(const std::string& dir, c10::ScalarType dtype, c10::Device device,
                                        bool fuse = true);
  // Random weights of a given shape (benchmarks need no checkpoint). Deterministic for a seed.
  static std::unique_ptr<CausalLM> random(const ModelConfig& config, c10::ScalarType dtype, c10::Device device,
                                          uint64_t seed, bool fuse = true);

  const ModelConfig& config() const { return config_; }
  c10::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }
  int64_t weight_bytes() const { return weight_bytes_; }
  double softmax_scale() const;

  // Makes RoPE tables cover positions [0, max_context); call before decoding up to that length.
  void reserve_positions(int64_t max_context);

  // Dense causal prefill of one sequence `ids` [T] (int64) into cache row `row`. Returns float32 logits:
  // [T, V] when all_logits, else [1, V] for the last position.
  at::Tensor prefill(const at::Tensor& ids, int64_t row, KVCache& cache, bool all_logits = false);
  // One decode step: `ids` [B] and their positions [B] (int64, on device) -> float32 logits [B, V].
  // On CUDA it takes the fused path (decode_fused) unless set_fused_decode(false); elsewhere the plain one.
  at::Tensor decode(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache);
  // The GPU fast path of one decode step (src/runtime/model_fused.cpp): fused QKV and gate/up projections,
  // fused RMSNorm, RoPE and SwiGLU kernels, the residual adds folded into the output GEMMs, the `full`
  // policy's attention as one flash-decoding kernel over the cache (other policies: the shared cache code),
  // MoE experts grouped on the device. No host reads, fixed shapes: it is what a CUDA graph captures.
  at::Tensor decode_fused(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache);
  void set_fused_decode(bool on) { fused_decode_ = on; }
  bool fused_decode() const;

  // Training (src/runtime/train.cpp): dense causal forward of a batch of right-padded sequences `ids` [B, T]
  // (int64) -> float32 logits [B, T, V], without a KV cache or policy, differentiable. Same norm, RoPE,
  // attention and feed-forward code as prefill (tests/torch/train_test.cpp checks they agree).
  at::Tensor forward(const at::Tensor& ids);
  // Every weight under its Hugging Face checkpoint name (lm_head.weight only when untied), in a fixed order.
  // The tensors alias the model's: requires_grad_ and in-place updates act on the model itself.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

  const LayerWeights& layer(int64_t index) const { return layers_.at(static_cast<size_t>(index)); }
  // The post-attention feed-forward block of a layer (dense MLP or sparse MoE) on normed hidden states
  // [T, H] -> [T, H].
  at::Tensor feed_forward(int64_t layer, const at::Tensor& x) const;

 private:
  CausalLM(ModelConfig config, c10::ScalarType dtype, c10::Device device);
  void build_rope_tables(int64_t max_positions);
  // CUDA: stores q/k/v and gate/up (dense MLP, shared and routed experts) fused; the separate tensors become
  // views of the fused ones, so no weight is held twice.
  void fuse_projections();
  // Causal attention of a prefill (q [Hq,T,D], k/v [Hkv,T,D], token i at position i) in query chunks -> [T, Hq D].
  at::Tensor dense_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) const;
  // residual + the layer's feed-forward block of its post-attention norm of `residual`; `next` are the weights
  // read after it (LinearOptions::l2_prefetch of its last GEMV).
  at::Tensor feed_forward_fused(int64_t layer, const at::Tensor& residual, std::vector<at::Tensor> next = {}) const;
  // Input norm + QKV projection of a decode step; its GEMV asks L2 for the layer's o_proj and gate/up weights.
  at::Tensor qkv_fused(int64_t layer, const at::Tensor& x) const;
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const;
  at::Tensor logits(const at::Tensor& hidden) const;
  std::pair<at::Tensor, at::Tensor> rope_at(const at::Tensor& positions) const;  // cos, sin [N, D]

  ModelConfig config_;
  c10::ScalarType dtype_;
  c10::Device device_;
  at::Tensor embed_tokens_;
  at::Tensor lm_head_;
  at::Tensor final_norm_;
  std::vector<LayerWeights> layers_;
  at::Tensor inv_freq_;   // [D/2] float32, with rope scaling applied
  at::Tensor rope_cos_;   // [P, D] model dtype
  at::Tensor rope_sin_;
  int64_t weight_bytes_ = 0;
  bool fused_decode_ = true;
};

// Float32 inverse frequencies exactly as HF computes them (default, linear, llama3 scaling).
at::Tensor rope_inverse_frequencies(const ModelConfig& config);

}  // namespace lil
