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
  // Exactly one of the two feed-forward blocks is defined: `moe` on a sparse layer (config.layer_is_moe).
  SwiGluWeights mlp;
  MoeWeights moe;
};

class CausalLM {
 public:
  // Loads `<dir>/config.json` and the safetensors weights, converted to `dtype` on `device`.
  static std::unique_ptr<CausalLM> load(const std::string& dir, c10::ScalarType dtype, c10::Device device);
  // Random weights of a given shape (benchmarks need no checkpoint). Deterministic for a seed.
  static std::unique_ptr<CausalLM> random(const ModelConfig& config, c10::ScalarType dtype, c10::Device device,
                                          uint64_t seed);

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
  at::Tensor decode(const at::Tensor& ids, const at::Tensor& positions, KVCache& cache);

  const LayerWeights& layer(int64_t index) const { return layers_.at(static_cast<size_t>(index)); }
  // The post-attention feed-forward block of a layer (dense MLP or sparse MoE) on normed hidden states
  // [T, H] -> [T, H].
  at::Tensor feed_forward(int64_t layer, const at::Tensor& x) const;

 private:
  CausalLM(ModelConfig config, c10::ScalarType dtype, c10::Device device);
  void build_rope_tables(int64_t max_positions);
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
};

// Float32 inverse frequencies exactly as HF computes them (default, linear, llama3 scaling).
at::Tensor rope_inverse_frequencies(const ModelConfig& config);

}  // namespace lil
