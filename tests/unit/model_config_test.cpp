// config.json / generation_config.json parsing, the architecture tensor table, and checking a checkpoint
// against it. The three full configs are copies of the published Hugging Face files for
// Llama-3.1-8B, Qwen2-1.5B and Qwen1.5-MoE-A2.7B, so parameter counts can be checked against the
// published totals.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/checkpoint_validate.h"
#include "core/error.h"
#include "core/model_config.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;
const std::string kWhere = "m/config.json";

const char* kLlama31_8B = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
})";

const char* kQwen2_1_5B = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 1536,
  "initializer_range": 0.02,
  "intermediate_size": 8960,
  "max_position_embeddings": 131072,
  "max_window_layers": 28,
  "model_type": "qwen2",
  "num_attention_heads": 12,
  "num_hidden_layers": 28,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 131072,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.37.2",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

const char* kQwen15MoeA27B = R"({
  "architectures": ["Qwen2MoeForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 5632,
  "max_position_embeddings": 8192,
  "max_window_layers": 21,
  "model_type": "qwen2_moe",
  "num_attention_heads": 16,
  "num_hidden_layers": 24,
  "num_key_value_heads": 16,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.39.0.dev0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936,
  "decoder_sparse_step": 1,
  "moe_intermediate_size": 1408,
  "shared_expert_intermediate_size": 5632,
  "num_experts_per_tok": 4,
  "num_experts": 60,
  "norm_topk_prob": false,
  "output_router_logits": false,
  "router_aux_loss_coef": 0.001
})";

// The smallest config that exercises every Llama tensor kind.
json tiny_llama() {
  return json{{"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 16},        {"intermediate_size", 24},
              {"num_hidden_layers", 2},                {"num_attention_heads", 4}, {"num_key_value_heads", 2},
              {"vocab_size", 50},                      {"rms_norm_eps", 1e-5}};
}

lil::ModelConfig parse(const json& config) { return lil::parse_model_config(config.dump(), kWhere); }

// The config with one key replaced (or removed when `value` is a discarded JSON value).
lil::ModelConfig parse_with(json config, const std::string& key, const json& value) {
  if (value.is_discarded()) {
    config.erase(key);
  } else {
    config[key] = value;
  }
  return parse(config);
}
const json kRemove = json::value_t::discarded;

int64_t parameter_count(const lil::ModelConfig& config, bool include_optional) {
  int64_t total = 0;
  for (const lil::ExpectedTensor& t : lil::expected_tensors(config)) {
    if (t.optional && !include_optional) continue;
    total += std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<int64_t>());
  }
  return total;
}

const lil::ExpectedTensor* find_tensor(const std::vector<lil::ExpectedTensor>& tensors, const std::string& name) {
  for (const lil::ExpectedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = (fs::temp_directory_path() /
             ("lil_model_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Writes zero-filled BF16 tensors with the given names and shapes (dtype overridable per tensor).
void write_checkpoint(const std::string& dir, const std::vector<lil::ExpectedTensor>& tensors,
                      const std::map<std::string, lil::DType>& dtype_overrides = {}) {
  std::vector<std::string> buffers;
  buffers.reserve(tensors.size());
  std::vector<lil::TensorToWrite> out;
  for (const lil::ExpectedTensor& t : tensors) {
    const auto it = dtype_overrides.find(t.name);
    const lil::DType dtype = it == dtype_overrides.end() ? lil::DType::BF16 : it->second;
    const int64_t numel = std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<int64_t>());
    buffers.emplace_back(static_cast<size_t>(numel) * lil::dtype_size(dtype), '\0');
    out.push_back({t.name, dtype, t.shape, buffers.back().data(), buffers.back().size()});
  }
  lil::write_safetensors(dir + "/model.safetensors", out);
}

}  // namespace

TEST_CASE("config: Llama-3.1-8B with llama3 rope scaling and an eos list", "[config]") {
  const lil::ModelConfig c = lil::parse_model_config(kLlama31_8B, kWhere);
  CHECK(c.architecture == lil::Architecture::Llama);
  CHECK(lil::architecture_name(c.architecture) == "LlamaForCausalLM");
  CHECK(c.model_type == "llama");
  CHECK(c.vocab_size == 128256);
  CHECK(c.hidden_size == 4096);
  CHECK(c.intermediate_size == 14336);
  CHECK(c.num_hidden_layers == 32);
  CHECK(c.num_attention_heads == 32);
  CHECK(c.num_key_value_heads == 8);
  CHECK(c.head_dim == 128);
  CHECK(c.rms_norm_eps == 1e-5);
  CHECK(c.rope_theta == 500000.0);
  CHECK(c.rope_scaling.type == "llama3");
  CHECK(c.rope_scaling.factor == 8.0);
  CHECK(c.rope_scaling.low_freq_factor == 1.0);
  CHECK(c.rope_scaling.high_freq_factor == 4.0);
  CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
  CHECK(c.max_position_embeddings == 131072);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK_FALSE(c.attention_bias);
  CHECK_FALSE(c.mlp_bias);
  CHECK(c.hidden_act == "silu");
  CHECK(c.torch_dtype == "bfloat16");
  CHECK(c.bos_token_id == 128000);
  CHECK(c.eos_token_ids == std::vector<int64_t>{128001, 128008, 128009});
  CHECK(c.num_experts == 0);
  CHECK_FALSE(c.layer_is_moe(0));

  const auto tensors = lil::expected_tensors(c);
  CHECK(tensors.size() == 291);  // the published checkpoint's tensor count
  CHECK(parameter_count(c, true) == 8030261248);  // the published parameter count
  REQUIRE(find_tensor(tensors, "model.layers.31.self_attn.k_proj.weight"));
  CHECK(find_tensor(tensors, "model.layers.31.self_attn.k_proj.weight")->shape == std::vector<int64_t>{1024, 4096});
  CHECK(find_tensor(tensors, "model.layers.0.mlp.down_proj.weight")->shape == std::vector<int64_t>{4096, 14336});
  CHECK_FALSE(find_tensor(tensors, "model.layers.0.self_attn.q_proj.bias"));
  CHECK_FALSE(find_tensor(tensors, "lm_head.weight")->optional);
  CHECK(tensors.front().name == "model.embed_tokens.weight");
}

TEST_CASE("config: Qwen2-1.5B has tied embeddings and q/k/v biases", "[config]") {
  const lil::ModelConfig c = lil::parse_model_config(kQwen2_1_5B, kWhere);
  CHECK(c.architecture == lil::Architecture::Qwen2);
  CHECK(c.head_dim == 128);
  CHECK(c.num_key_value_heads == 2);
  CHECK(c.tie_word_embeddings);
  CHECK(c.attention_bias);
  CHECK(c.rope_scaling.type == "default");
  CHECK(c.eos_token_ids == std::vector<int64_t>{151643});

  const auto tensors = lil::expected_tensors(c);
  CHECK(tensors.size() == 339);  // 338 stored tensors plus the optional lm_head
  CHECK(parameter_count(c, false) == 1543714304);  // the published parameter count
  CHECK(find_tensor(tensors, "lm_head.weight")->optional);
  CHECK(find_tensor(tensors, "model.layers.3.self_attn.k_proj.bias")->shape == std::vector<int64_t>{256});
  CHECK(find_tensor(tensors, "model.layers.3.self_attn.q_proj.bias")->shape == std::vector<int64_t>{1536});
  CHECK_FALSE(find_tensor(tensors, "model.layers.3.self_attn.o_proj.bias"));
  CHECK_FALSE(find_tensor(tensors, "model.layers.3.mlp.gate_proj.bias"));
}

TEST_CASE("config: Qwen1.5-MoE-A2.7B routed and shared experts", "[config]") {
  const lil::ModelConfig c = lil::parse_model_config(kQwen15MoeA27B, kWhere);
  CHECK(c.architecture == lil::Architecture::Qwen2Moe);
  CHECK(c.model_type == "qwen2_moe");
  CHECK(c.num_experts == 60);
  CHECK(c.num_experts_per_tok == 4);
  CHECK(c.moe_intermediate_size == 1408);
  CHECK(c.shared_expert_intermediate_size == 5632);
  CHECK_FALSE(c.norm_topk_prob);
  CHECK(c.decoder_sparse_step == 1);
  CHECK(c.mlp_only_layers.empty());
  CHECK(c.attention_bias);
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) CHECK(c.layer_is_moe(layer));

  const auto tensors = lil::expected_tensors(c);
  // Published as "14.3B" total parameters.
  CHECK(parameter_count(c, true) > 14'250'000'000);
  CHECK(parameter_count(c, true) < 14'350'000'000);
  CHECK(find_tensor(tensors, "model.layers.0.mlp.gate.weight")->shape == std::vector<int64_t>{60, 2048});
  CHECK(find_tensor(tensors, "model.layers.0.mlp.experts.59.up_proj.weight")->shape == std::vector<int64_t>{1408, 2048});
  CHECK(find_tensor(tensors, "model.layers.0.mlp.experts.59.down_proj.weight")->shape == std::vector<int64_t>{2048, 1408});
  CHECK_FALSE(find_tensor(tensors, "model.layers.0.mlp.experts.60.up_proj.weight"));
  CHECK(find_tensor(tensors, "model.layers.23.mlp.shared_expert.gate_proj.weight")->shape ==
        std::vector<int64_t>{5632, 2048});
  CHECK(find_tensor(tensors, "model.layers.23.mlp.shared_expert.down_proj.weight")->shape ==
        std::vector<int64_t>{2048, 5632});
  CHECK(find_tensor(tensors, "model.layers.23.mlp.shared_expert_gate.weight")->shape == std::vector<int64_t>{1, 2048});
  CHECK(find_tensor(tensors, "model.layers.0.self_attn.v_proj.bias"));
  CHECK_FALSE(find_tensor(tensors, "model.layers.0.mlp.gate_proj.weight"));
}

TEST_CASE("config: MoE layer selection follows decoder_sparse_step and mlp_only_layers", "[config]") {
  json config = json::parse(kQwen15MoeA27B);
  config["num_hidden_layers"] = 6;
  config["decoder_sparse_step"] = 2;
  config["mlp_only_layers"] = {3};
  const lil::ModelConfig c = parse(config);
  // (layer + 1) % step == 0 and not listed as MLP-only.
  CHECK_FALSE(c.layer_is_moe(0));
  CHECK(c.layer_is_moe(1));
  CHECK_FALSE(c.layer_is_moe(2));
  CHECK_FALSE(c.layer_is_moe(3));
  CHECK(c.layer_is_moe(5));
  const auto tensors = lil::expected_tensors(c);
  CHECK(find_tensor(tensors, "model.layers.3.mlp.gate_proj.weight")->shape == std::vector<int64_t>{5632, 2048});
  CHECK_FALSE(find_tensor(tensors, "model.layers.3.mlp.gate.weight"));
  CHECK(find_tensor(tensors, "model.layers.5.mlp.gate.weight"));

  config["num_experts"] = 0;  // no experts at all: every layer is a dense MLP
  const lil::ModelConfig dense = parse(config);
  CHECK_FALSE(dense.layer_is_moe(1));
  CHECK(find_tensor(lil::expected_tensors(dense), "model.layers.1.mlp.up_proj.weight"));
}

TEST_CASE("config: head_dim given, defaults and fallbacks", "[config]") {
  json config = tiny_llama();
  config["hidden_size"] = 2048;
  config["num_attention_heads"] = 32;
  config["num_key_value_heads"] = 8;
  config["head_dim"] = 128;  // not hidden / heads (64)
  const lil::ModelConfig c = parse(config);
  CHECK(c.head_dim == 128);
  const auto tensors = lil::expected_tensors(c);
  CHECK(find_tensor(tensors, "model.layers.0.self_attn.q_proj.weight")->shape == std::vector<int64_t>{4096, 2048});
  CHECK(find_tensor(tensors, "model.layers.0.self_attn.k_proj.weight")->shape == std::vector<int64_t>{1024, 2048});
  CHECK(find_tensor(tensors, "model.layers.0.self_attn.o_proj.weight")->shape == std::vector<int64_t>{2048, 4096});

  CHECK(parse_with(config, "head_dim", nullptr).head_dim == 64);  // null means "derive it"

  const lil::ModelConfig defaults = parse(tiny_llama());
  CHECK(defaults.head_dim == 4);
  CHECK(defaults.rope_theta == 10000.0);
  CHECK(defaults.rope_scaling.type == "default");
  CHECK(defaults.max_position_embeddings == 2048);
  CHECK_FALSE(defaults.tie_word_embeddings);
  CHECK(defaults.hidden_act == "silu");
  CHECK_FALSE(defaults.bos_token_id.has_value());
  CHECK(defaults.eos_token_ids.empty());
  CHECK(parse_with(tiny_llama(), "num_key_value_heads", kRemove).num_key_value_heads == 4);

  // Without `architectures`, model_type decides.
  json by_type = tiny_llama();
  by_type.erase("architectures");
  by_type["model_type"] = "qwen2";
  CHECK(parse(by_type).architecture == lil::Architecture::Qwen2);
  CHECK(parse(by_type).max_position_embeddings == 32768);
  CHECK(parse_with(by_type, "architectures", json::array()).architecture == lil::Architecture::Qwen2);
}

TEST_CASE("config: Llama biases come from the config, Qwen2's are fixed", "[config]") {
  json config = tiny_llama();
  config["attention_bias"] = true;
  config["mlp_bias"] = true;
  const auto tensors = lil::expected_tensors(parse(config));
  CHECK(find_tensor(tensors, "model.layers.1.self_attn.q_proj.bias")->shape == std::vector<int64_t>{16});
  CHECK(find_tensor(tensors, "model.layers.1.self_attn.k_proj.bias")->shape == std::vector<int64_t>{8});
  CHECK(find_tensor(tensors, "model.layers.1.self_attn.o_proj.bias")->shape == std::vector<int64_t>{16});
  CHECK(find_tensor(tensors, "model.layers.1.mlp.gate_proj.bias")->shape == std::vector<int64_t>{24});
  CHECK(find_tensor(tensors, "model.layers.1.mlp.down_proj.bias")->shape == std::vector<int64_t>{16});

  config["architectures"] = {"Qwen2ForCausalLM"};
  const lil::ModelConfig qwen = parse(config);
  CHECK(qwen.attention_bias);
  CHECK_FALSE(qwen.mlp_bias);
  const auto qwen_tensors = lil::expected_tensors(qwen);
  CHECK(find_tensor(qwen_tensors, "model.layers.1.self_attn.q_proj.bias"));
  CHECK_FALSE(find_tensor(qwen_tensors, "model.layers.1.self_attn.o_proj.bias"));
  CHECK_FALSE(find_tensor(qwen_tensors, "model.layers.1.mlp.gate_proj.bias"));
  config["attention_bias"] = false;  // ignored by Qwen2, as in Hugging Face
  CHECK(parse(config).attention_bias);
}

TEST_CASE("config: rope scaling variants and transformers-5 rope_parameters", "[config]") {
  json legacy = tiny_llama();
  legacy["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  CHECK(parse(legacy).rope_scaling.type == "linear");
  CHECK(parse(legacy).rope_scaling.factor == 2.0);

  json dynamic = tiny_llama();
  dynamic["max_position_embeddings"] = 4096;
  dynamic["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
  CHECK(parse(dynamic).rope_scaling.type == "dynamic");
  CHECK(parse(dynamic).rope_scaling.original_max_position_embeddings == 4096);

  json explicit_default = tiny_llama();
  explicit_default["rope_scaling"] = {{"rope_type", "default"}};
  CHECK(parse(explicit_default).rope_scaling.type == "default");

  json v5 = json::parse(kLlama31_8B);
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5.erase("torch_dtype");
  v5["dtype"] = "bfloat16";
  v5["rope_parameters"] = {{"rope_theta", 500000.0}, {"rope_type", "llama3"}, {"factor", 8.0},
                           {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 8192}};
  const lil::ModelConfig c = parse(v5);
  CHECK(c.rope_theta == 500000.0);
  CHECK(c.rope_scaling.type == "llama3");
  CHECK(c.rope_scaling.factor == 8.0);
  CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
  CHECK(c.torch_dtype == "bfloat16");

  json v5_default = tiny_llama();
  v5_default["rope_parameters"] = {{"rope_theta", 1000000.0}, {"rope_type", "default"}};
  CHECK(parse(v5_default).rope_theta == 1000000.0);
  CHECK(parse(v5_default).rope_scaling.type == "default");
}

TEST_CASE("config: each invalid key is named with the file and what was expected", "[config]") {
  const json base = tiny_llama();
  auto message_for = [&](const std::string& key, const json& value) -> std::string {
    try {
      parse_with(base, key, value);
    } catch (const lil::LilError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(message_for("hidden_size", kRemove),
             Contains("m/config.json: key 'hidden_size': expected a positive integer, got nothing"));
  CHECK_THAT(message_for("hidden_size", 0), Contains("m/config.json: key 'hidden_size': expected a positive integer, got 0"));
  CHECK_THAT(message_for("vocab_size", -5), Contains("key 'vocab_size': expected a positive integer, got -5"));
  CHECK_THAT(message_for("intermediate_size", "24"), Contains("key 'intermediate_size': expected an integer, got a string"));
  CHECK_THAT(message_for("num_hidden_layers", 2.5), Contains("key 'num_hidden_layers': expected an integer, got a number"));
  CHECK_THAT(message_for("num_attention_heads", kRemove), Contains("key 'num_attention_heads': expected a positive integer"));
  CHECK_THAT(message_for("num_key_value_heads", 3),
             Contains("key 'num_key_value_heads': expected a divisor of num_attention_heads (4), got 3"));
  CHECK_THAT(message_for("num_key_value_heads", 0), Contains("key 'num_key_value_heads': expected a positive integer, got 0"));
  CHECK_THAT(message_for("hidden_size", 18),
             Contains("key 'hidden_size': expected a multiple of num_attention_heads (4) when head_dim is not given, got 18"));
  CHECK_THAT(message_for("head_dim", 7), Contains("key 'head_dim': expected an even number"));
  CHECK_THAT(message_for("head_dim", 0), Contains("key 'head_dim': expected a positive integer, got 0"));
  CHECK_THAT(message_for("rms_norm_eps", 0), Contains("key 'rms_norm_eps': expected a positive number, got 0"));
  CHECK_THAT(message_for("rms_norm_eps", "1e-5"), Contains("key 'rms_norm_eps': expected a number, got a string"));
  CHECK_THAT(message_for("rope_theta", -1.0), Contains("key 'rope_theta': expected a positive number"));
  CHECK_THAT(message_for("max_position_embeddings", 0), Contains("key 'max_position_embeddings': expected a positive integer"));
  CHECK_THAT(message_for("hidden_act", "gelu"), Contains("key 'hidden_act': expected 'silu'") && Contains("got 'gelu'"));
  CHECK_THAT(message_for("tie_word_embeddings", "yes"), Contains("key 'tie_word_embeddings': expected true or false, got a string"));
  CHECK_THAT(message_for("attention_bias", 1), Contains("key 'attention_bias': expected true or false"));
  CHECK_THAT(message_for("eos_token_id", "</s>"), Contains("key 'eos_token_id': expected an integer or a list of integers"));
  CHECK_THAT(message_for("bos_token_id", 1.5), Contains("key 'bos_token_id': expected an integer"));
  CHECK_THAT(message_for("torch_dtype", 16), Contains("key 'torch_dtype': expected a string"));
  CHECK_THAT(message_for("quantization_config", json{{"quant_method", "gptq"}}), Contains("key 'quantization_config': expected no quantization"));
  CHECK_THAT(message_for("architectures", json{"MistralForCausalLM"}),
             Contains("key 'architectures': expected one of LlamaForCausalLM, Qwen2ForCausalLM, Qwen2MoeForCausalLM, got 'MistralForCausalLM'"));
  CHECK_THAT(message_for("architectures", "LlamaForCausalLM"), Contains("key 'architectures': expected a list of class names"));
  CHECK_THAT(message_for("architectures", kRemove), Contains("key 'architectures': expected one of") && Contains("neither"));
  CHECK_THAT(message_for("rope_scaling", json{{"rope_type", "yarn"}, {"factor", 4.0}}),
             Contains("m/config.json: key 'rope_scaling.rope_type': expected one of default, linear, dynamic, llama3, got 'yarn'"));
  CHECK_THAT(message_for("rope_scaling", json{{"type", "su"}}), Contains("key 'rope_scaling.type': expected one of") && Contains("got 'su'"));
  CHECK_THAT(message_for("rope_scaling", json{{"factor", 2.0}}), Contains("key 'rope_scaling.rope_type': expected one of"));
  CHECK_THAT(message_for("rope_scaling", "llama3"), Contains("key 'rope_scaling': expected null or an object"));
  CHECK_THAT(message_for("rope_scaling", json{{"rope_type", "linear"}}), Contains("key 'rope_scaling.factor': expected a positive number, got nothing"));
  CHECK_THAT(message_for("rope_scaling", json{{"rope_type", "linear"}, {"factor", -2}}), Contains("key 'rope_scaling.factor': expected a positive number, got -2"));
  CHECK_THAT(message_for("rope_scaling", json{{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0},
                                              {"original_max_position_embeddings", 8192}}),
             Contains("key 'rope_scaling.low_freq_factor': expected a positive number, got nothing"));
  CHECK_THAT(message_for("rope_scaling", json{{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                                              {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}),
             Contains("key 'rope_scaling.high_freq_factor': expected a number larger than low_freq_factor"));
  CHECK_THAT(message_for("rope_parameters", json{{"rope_type", "longrope"}}),
             Contains("key 'rope_parameters.rope_type': expected one of default, linear, dynamic, llama3, got 'longrope'"));
  CHECK_THAT(message_for("rope_parameters", json{{"rope_type", "default"}, {"rope_theta", 0}}),
             Contains("key 'rope_parameters.rope_theta': expected a positive number"));

  json by_type = base;
  by_type.erase("architectures");
  by_type["model_type"] = "mistral";
  REQUIRE_THROWS_WITH(parse(by_type), Contains("key 'model_type': expected one of llama, qwen2, qwen2_moe") && Contains("got 'mistral'"));

  json sliding = base;
  sliding["architectures"] = {"Qwen2ForCausalLM"};
  sliding["use_sliding_window"] = true;
  REQUIRE_THROWS_WITH(parse(sliding), Contains("key 'use_sliding_window': expected false"));

  REQUIRE_THROWS_WITH(lil::parse_model_config("{\"hidden_size\": ", kWhere), Contains("m/config.json: malformed JSON"));
  REQUIRE_THROWS_WITH(lil::parse_model_config("[1]", kWhere), "m/config.json: expected a JSON object, got an array");
}

TEST_CASE("config: invalid MoE keys are named", "[config]") {
  const json base = json::parse(kQwen15MoeA27B);
  auto message_for = [&](const std::string& key, const json& value) -> std::string {
    try {
      parse_with(base, key, value);
    } catch (const lil::LilError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(message_for("num_experts", kRemove), Contains("m/config.json: key 'num_experts': expected a non-negative integer, got nothing"));
  CHECK_THAT(message_for("num_experts", -1), Contains("key 'num_experts': expected a non-negative integer, got -1"));
  CHECK_THAT(message_for("num_experts_per_tok", 61), Contains("key 'num_experts_per_tok': expected at most num_experts (60), got 61"));
  CHECK_THAT(message_for("num_experts_per_tok", 0), Contains("key 'num_experts_per_tok': expected a positive integer, got 0"));
  CHECK_THAT(message_for("moe_intermediate_size", kRemove), Contains("key 'moe_intermediate_size': expected a positive integer, got nothing"));
  CHECK_THAT(message_for("shared_expert_intermediate_size", 0), Contains("key 'shared_expert_intermediate_size': expected a positive integer"));
  CHECK_THAT(message_for("decoder_sparse_step", 0), Contains("key 'decoder_sparse_step': expected a positive integer, got 0"));
  CHECK_THAT(message_for("norm_topk_prob", "no"), Contains("key 'norm_topk_prob': expected true or false"));
  CHECK_THAT(message_for("mlp_only_layers", json{0, 24}), Contains("key 'mlp_only_layers': expected a list of layer indices in [0, 24), got [0,24]"));
  CHECK_THAT(message_for("mlp_only_layers", 3), Contains("key 'mlp_only_layers': expected a list of layer indices"));
  // Defaults of the Hugging Face config class when the behaviour keys are absent.
  json minimal = base;
  minimal.erase("decoder_sparse_step");
  minimal.erase("norm_topk_prob");
  const lil::ModelConfig c = parse(minimal);
  CHECK(c.decoder_sparse_step == 1);
  CHECK_FALSE(c.norm_topk_prob);
}

TEST_CASE("config: load_model_config names the file in its directory", "[config]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(lil::load_model_config(dir.path()), Contains(dir.file("config.json") + ": cannot open file"));
  write_text(dir.file("config.json"), R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 16})");
  REQUIRE_THROWS_WITH(lil::load_model_config(dir.path()),
                      Contains(dir.file("config.json") + ": key 'intermediate_size': expected a positive integer"));

  const lil::ModelConfig fixture = lil::load_model_config(kSourceDir + "/tests/fixtures/models/tiny-llama");
  CHECK(fixture.head_dim == 16);
  CHECK(fixture.rope_scaling.type == "llama3");
}

TEST_CASE("generation_config: eos list, bos, pad, and an absent file", "[config]") {
  TempDir dir;
  const lil::GenerationConfig absent = lil::load_generation_config(dir.path());
  CHECK(absent.eos_token_ids.empty());
  CHECK_FALSE(absent.bos_token_id.has_value());
  CHECK_FALSE(absent.pad_token_id.has_value());

  const lil::GenerationConfig llama = lil::load_generation_config(kSourceDir + "/tests/fixtures/models/tiny-llama");
  CHECK(llama.eos_token_ids == std::vector<int64_t>{128001, 128008, 128009});
  CHECK(llama.bos_token_id == 128000);

  write_text(dir.file("generation_config.json"), R"({"eos_token_id": 7, "pad_token_id": 0, "bos_token_id": null})");
  const lil::GenerationConfig single = lil::load_generation_config(dir.path());
  CHECK(single.eos_token_ids == std::vector<int64_t>{7});
  CHECK(single.pad_token_id == 0);
  CHECK_FALSE(single.bos_token_id.has_value());

  write_text(dir.file("generation_config.json"), R"({"eos_token_id": [1, "x"]})");
  REQUIRE_THROWS_WITH(lil::load_generation_config(dir.path()),
                      Contains(dir.file("generation_config.json") + ": key 'eos_token_id': expected an integer or a list of integers"));
  write_text(dir.file("generation_config.json"), R"({"pad_token_id": "0"})");
  REQUIRE_THROWS_WITH(lil::load_generation_config(dir.path()), Contains("key 'pad_token_id': expected an integer, got a string"));
  write_text(dir.file("generation_config.json"), "[]");
  REQUIRE_THROWS_WITH(lil::load_generation_config(dir.path()), Contains("generation_config.json: expected a JSON object"));
}

TEST_CASE("validate_checkpoint accepts the committed tiny fixtures", "[config][safetensors]") {
  for (const char* name : {"tiny-llama", "tiny-qwen2"}) {
    const std::string dir = kSourceDir + "/tests/fixtures/models/" + name;
    CAPTURE(dir);
    CHECK_NOTHROW(lil::validate_checkpoint(lil::load_model_config(dir), lil::Checkpoint::open_dir(dir)));
  }
}

TEST_CASE("validate_checkpoint reports the first missing or misshapen tensor", "[config][safetensors]") {
  TempDir dir;
  const lil::ModelConfig config = parse(tiny_llama());
  std::vector<lil::ExpectedTensor> tensors = lil::expected_tensors(config);
  auto validate = [&] { lil::validate_checkpoint(config, lil::Checkpoint::open_dir(dir.path())); };

  SECTION("complete checkpoint") {
    write_checkpoint(dir.path(), tensors);
    CHECK_NOTHROW(validate());
  }
  SECTION("missing tensor") {
    REQUIRE(tensors[4].name == "model.layers.0.self_attn.k_proj.weight");
    tensors.erase(tensors.begin() + 4);
    tensors.pop_back();                  // lm_head.weight, later in the order
    write_checkpoint(dir.path(), tensors);
    REQUIRE_THROWS_WITH(validate(), dir.path() + ": tensor 'model.layers.0.self_attn.k_proj.weight' is missing "
                                                 "(expected shape [8, 16] for LlamaForCausalLM)");
  }
  SECTION("wrong shape") {
    for (auto& t : tensors) {
      if (t.name == "model.layers.1.mlp.down_proj.weight") t.shape = {24, 16};
      if (t.name == "model.norm.weight") t.shape = {17};
    }
    write_checkpoint(dir.path(), tensors);
    REQUIRE_THROWS_WITH(validate(),
                        dir.path() + ": tensor 'model.layers.1.mlp.down_proj.weight': expected shape [16, 24], got [24, 16]");
  }
  SECTION("integer weights") {
    write_checkpoint(dir.path(), tensors, {{"model.layers.0.self_attn.q_proj.weight", lil::DType::I8}});
    REQUIRE_THROWS_WITH(validate(), dir.path() + ": tensor 'model.layers.0.self_attn.q_proj.weight': "
                                                 "expected dtype F32, F16 or BF16, got I8");
  }
  SECTION("mixed float dtypes are fine") {
    write_checkpoint(dir.path(), tensors, {{"model.norm.weight", lil::DType::F32}, {"lm_head.weight", lil::DType::F16}});
    CHECK_NOTHROW(validate());
  }
  SECTION("a bias the config does not have") {
    tensors.push_back({"model.layers.0.self_attn.o_proj.bias", {16}, false});
    write_checkpoint(dir.path(), tensors);
    REQUIRE_THROWS_WITH(validate(), Contains(dir.path() + ": tensor 'model.layers.0.self_attn.o_proj.bias': not part of "
                                                          "LlamaForCausalLM") &&
                                        Contains("attention_bias"));
  }
  SECTION("harmless extra buffers are ignored") {
    tensors.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, false});
    write_checkpoint(dir.path(), tensors);
    CHECK_NOTHROW(validate());
  }
}

TEST_CASE("validate_checkpoint: tied embeddings make lm_head optional but still shape-checked", "[config][safetensors]") {
  TempDir dir;
  json tied = tiny_llama();
  tied["tie_word_embeddings"] = true;
  const lil::ModelConfig config = parse(tied);
  std::vector<lil::ExpectedTensor> tensors = lil::expected_tensors(config);
  REQUIRE(tensors.back().name == "lm_head.weight");
  REQUIRE(tensors.back().optional);

  tensors.back().shape = {50, 15};
  write_checkpoint(dir.path(), tensors);
  REQUIRE_THROWS_WITH(lil::validate_checkpoint(config, lil::Checkpoint::open_dir(dir.path())),
                      dir.path() + ": tensor 'lm_head.weight': expected shape [50, 16], got [50, 15]");
  tensors.pop_back();
  write_checkpoint(dir.path(), tensors);
  CHECK_NOTHROW(lil::validate_checkpoint(config, lil::Checkpoint::open_dir(dir.path())));
}

TEST_CASE("validate_checkpoint: a small Qwen2-MoE checkpoint", "[config][safetensors]") {
  TempDir dir;
  json config_json = json::parse(kQwen15MoeA27B);
  config_json["hidden_size"] = 16;
  config_json["num_attention_heads"] = 4;
  config_json["num_key_value_heads"] = 2;
  config_json["intermediate_size"] = 32;
  config_json["moe_intermediate_size"] = 8;
  config_json["shared_expert_intermediate_size"] = 24;
  config_json["num_experts"] = 4;
  config_json["num_experts_per_tok"] = 2;
  config_json["num_hidden_layers"] = 2;
  config_json["mlp_only_layers"] = {0};
  config_json["vocab_size"] = 40;
  const lil::ModelConfig config = parse(config_json);
  std::vector<lil::ExpectedTensor> tensors = lil::expected_tensors(config);
  write_checkpoint(dir.path(), tensors);
  CHECK_NOTHROW(lil::validate_checkpoint(config, lil::Checkpoint::open_dir(dir.path())));

  for (auto& t : tensors) {
    if (t.name == "model.layers.1.mlp.experts.3.gate_proj.weight") t.shape = {16, 8};
  }
  write_checkpoint(dir.path(), tensors);
  REQUIRE_THROWS_WITH(lil::validate_checkpoint(config, lil::Checkpoint::open_dir(dir.path())),
                      dir.path() + ": tensor 'model.layers.1.mlp.experts.3.gate_proj.weight': expected shape [8, 16], got [16, 8]");
}
