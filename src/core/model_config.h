#pragma once
// Hugging Face `config.json` / `generation_config.json` for the architectures lil runs. No torch here.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lil {

enum class Architecture { Llama, Qwen2, Qwen2Moe };
std::string architecture_name(Architecture arch);  // "LlamaForCausalLM", ...

struct RopeScaling {
  std::string type = "default";  // "default" (none), "linear", "dynamic", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;               // llama3
  double high_freq_factor = 4.0;              // llama3
  int64_t original_max_position_embeddings = 0;  // llama3 / dynamic
};

struct ModelConfig {
  Architecture architecture = Architecture::Llama;
  std::string model_type;  // "llama", "qwen2", "qwen2_moe"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // config's `head_dim` when given, else hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (always true for Qwen2, config key for Llama)
  bool mlp_bias = false;
  std::string hidden_act = "silu";
  std::string torch_dtype;  // as stored in config.json, informational
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // Qwen2-MoE
  int64_t num_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int64_t shared_expert_intermediate_size = 0;
  bool norm_topk_prob = false;
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  bool layer_is_moe(int64_t layer) const;
};

// Parses and validates `<dir>/config.json`; LilError names the file and key and what was expected.
ModelConfig load_model_config(const std::string& dir);
ModelConfig parse_model_config(const std::string& json_text, const std::string& where);

struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;  // empty when the file is absent
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
};
// `<dir>/generation_config.json` when present (absent -> empty config).
GenerationConfig load_generation_config(const std::string& dir);

// Expected tensor names and shapes for a config, in HF naming ("model.layers.0.self_attn.q_proj.weight").
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // e.g. lm_head.weight when embeddings are tied
};
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

}  // namespace lil
