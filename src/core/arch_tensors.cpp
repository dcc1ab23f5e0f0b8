// The architecture table of tensor names: which weights a Hugging Face checkpoint of each supported
// architecture holds, with their shapes (torch Linear layout: [out_features, in_features]).
#include "core/model_config.h"

namespace lil {

namespace {

void add(std::vector<ExpectedTensor>* out, std::string name, std::vector<int64_t> shape, bool optional = false) {
  out->push_back(ExpectedTensor{std::move(name), std::move(shape), optional});
}

// gate_proj / up_proj / down_proj of one SwiGLU MLP with `width` hidden units.
void add_swiglu(std::vector<ExpectedTensor>* out, const std::string& prefix, int64_t hidden, int64_t width, bool bias) {
  add(out, prefix + "gate_proj.weight", {width, hidden});
  add(out, prefix + "up_proj.weight", {width, hidden});
  add(out, prefix + "down_proj.weight", {hidden, width});
  if (bias) {
    add(out, prefix + "gate_proj.bias", {width});
    add(out, prefix + "up_proj.bias", {width});
    add(out, prefix + "down_proj.bias", {hidden});
  }
}

}  // namespace

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config) {
  const int64_t hidden = config.hidden_size;
  const int64_t q_width = config.num_attention_heads * config.head_dim;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  const bool is_llama = config.architecture == Architecture::Llama;
  // Qwen2 and Qwen2-MoE always carry q/k/v biases and never an o_proj bias; Llama's attention_bias
  // adds all four.
  const bool qkv_bias = !is_llama || config.attention_bias;
  const bool o_bias = is_llama && config.attention_bias;

  std::vector<ExpectedTensor> out;
  add(&out, "model.embed_tokens.weight", {config.vocab_size, hidden});
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    add(&out, p + "input_layernorm.weight", {hidden});
    add(&out, p + "post_attention_layernorm.weight", {hidden});
    add(&out, p + "self_attn.q_proj.weight", {q_width, hidden});
    add(&out, p + "self_attn.k_proj.weight", {kv_width, hidden});
    add(&out, p + "self_attn.v_proj.weight", {kv_width, hidden});
    add(&out, p + "self_attn.o_proj.weight", {hidden, q_width});
    if (qkv_bias) {
      add(&out, p + "self_attn.q_proj.bias", {q_width});
      add(&out, p + "self_attn.k_proj.bias", {kv_width});
      add(&out, p + "self_attn.v_proj.bias", {kv_width});
    }
    if (o_bias) add(&out, p + "self_attn.o_proj.bias", {hidden});

    if (!config.layer_is_moe(layer)) {
      add_swiglu(&out, p + "mlp.", hidden, config.intermediate_size, config.mlp_bias);
      continue;
    }
    // Qwen2MoeSparseMoeBlock: a router, the routed experts, one always-on shared expert and its
    // sigmoid gate.
    add(&out, p + "mlp.gate.weight", {config.num_experts, hidden});
    for (int64_t expert = 0; expert < config.num_experts; ++expert) {
      add_swiglu(&out, p + "mlp.experts." + std::to_string(expert) + ".", hidden, config.moe_intermediate_size, false);
    }
    add_swiglu(&out, p + "mlp.shared_expert.", hidden, config.shared_expert_intermediate_size, false);
    add(&out, p + "mlp.shared_expert_gate.weight", {1, hidden});
  }
  add(&out, "model.norm.weight", {hidden});
  add(&out, "lm_head.weight", {config.vocab_size, hidden}, /*optional=*/config.tie_word_embeddings);
  return out;
}

}  // namespace lil
