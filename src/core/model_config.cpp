#include "core/model_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json_util.h"

namespace lil {

namespace {

// The architectures lil runs, with the `model_type` Hugging Face pairs with each and the defaults its
// config class uses for keys a config.json may leave out.
struct ArchitectureEntry {
  Architecture architecture;
  const char* class_name;
  const char* model_type;
  int64_t default_max_position_embeddings;
};
constexpr ArchitectureEntry kArchitectures[] = {
    {Architecture::Llama, "LlamaForCausalLM", "llama", 2048},
    {Architecture::Qwen2, "Qwen2ForCausalLM", "qwen2", 32768},
    {Architecture::Qwen2Moe, "Qwen2MoeForCausalLM", "qwen2_moe", 32768},
};

const ArchitectureEntry& entry_of(Architecture arch) {
  for (const ArchitectureEntry& e : kArchitectures) {
    if (e.architecture == arch) return e;
  }
  throw LilError("internal error: Architecture " + std::to_string(static_cast<int>(arch)) + " has no table entry");
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

[[noreturn]] void bad_key(const std::string& where, const std::string& key, const std::string& expected,
                          const std::string& got) {
  fail_at(where, "key '" + key + "': expected " + expected + ", got " + got);
}

std::string value_text(const json& v) { return v.is_string() ? in_quotes(v.get<std::string>()) : v.dump(); }

// `key` is the dotted name used in messages ("rope_scaling.factor"); `field` is the key inside `object`.
const json* find_non_null(const json& object, const std::string& field) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t int_value(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) bad_key(where, key, "an integer", json_type_name(v) + " " + v.dump());
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    bad_key(where, key, "an integer that fits in 64 bits", v.dump());
  }
  return v.get<int64_t>();
}

double number_value(const json& v, const std::string& where, const std::string& key) {
  if (!v.is_number()) bad_key(where, key, "a number", json_type_name(v) + " " + value_text(v));
  return v.get<double>();
}

int64_t positive_int(const json& object, const std::string& field, const std::string& where, const std::string& key,
                     std::optional<int64_t> fallback = std::nullopt) {
  const json* v = find_non_null(object, field);
  if (!v) {
    if (fallback) return *fallback;
    fail_at(where, "key '" + key + "': expected a positive integer, got nothing (the key is missing)");
  }
  const int64_t value = int_value(*v, where, key);
  if (value <= 0) bad_key(where, key, "a positive integer", std::to_string(value));
  // Bounded so an absurd config fails here instead of exhausting memory in the tensor table.
  constexpr int64_t kLargestSize = int64_t{1} << 24;
  if (value > kLargestSize) bad_key(where, key, "a positive integer of at most 2^24", std::to_string(value));
  return value;
}

double positive_number(const json& object, const std::string& field, const std::string& where, const std::string& key,
                       std::optional<double> fallback = std::nullopt) {
  const json* v = find_non_null(object, field);
  if (!v) {
    if (fallback) return *fallback;
    fail_at(where, "key '" + key + "': expected a positive number, got nothing (the key is missing)");
  }
  const double value = number_value(*v, where, key);
  if (!(value > 0) || !std::isfinite(value)) bad_key(where, key, "a positive number", v->dump());
  return value;
}

bool bool_or(const json& object, const std::string& field, const std::string& where, bool fallback) {
  const json* v = find_non_null(object, field);
  if (!v) return fallback;
  if (!v->is_boolean()) bad_key(where, field, "true or false", json_type_name(*v) + " " + value_text(*v));
  return v->get<bool>();
}

std::optional<std::string> string_or_none(const json& object, const std::string& field, const std::string& where) {
  const json* v = find_non_null(object, field);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad_key(where, field, "a string", json_type_name(*v) + " " + v->dump());
  return v->get<std::string>();
}

Architecture parse_architecture(const json& root, const std::string& where, std::string* model_type_out) {
  const std::optional<std::string> model_type = string_or_none(root, "model_type", where);
  std::string known;
  for (const ArchitectureEntry& e : kArchitectures) known += (known.empty() ? "" : ", ") + std::string(e.class_name);

  const json* list = find_non_null(root, "architectures");
  if (list && !(list->is_array() && list->empty())) {
    if (!list->is_array() || !(*list)[0].is_string()) {
      bad_key(where, "architectures", "a list of class names such as [\"LlamaForCausalLM\"]", list->dump());
    }
    // Hugging Face instantiates the first listed class; so do we.
    const std::string name = (*list)[0].get<std::string>();
    for (const ArchitectureEntry& e : kArchitectures) {
      if (name == e.class_name) {
        *model_type_out = model_type.value_or(e.model_type);
        return e.architecture;
      }
    }
    bad_key(where, "architectures", "one of " + known, in_quotes(name));
  }
  if (!model_type) {
    fail_at(where, "key 'architectures': expected one of " + known + ", got nothing (neither 'architectures' nor "
                   "'model_type' is given)");
  }
  for (const ArchitectureEntry& e : kArchitectures) {
    if (*model_type == e.model_type) {
      *model_type_out = *model_type;
      return e.architecture;
    }
  }
  std::string known_types;
  for (const ArchitectureEntry& e : kArchitectures) known_types += (known_types.empty() ? "" : ", ") + std::string(e.model_type);
  bad_key(where, "model_type", "one of " + known_types + " (no 'architectures' list is given)", in_quotes(*model_type));
}

// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5, which also carries rope_theta).
// `prefix` is the key name the object came from, so messages point at the right place.
RopeScaling parse_rope_object(const json& object, const std::string& prefix, const std::string& where,
                              int64_t max_position_embeddings) {
  if (!object.is_object()) bad_key(where, prefix, "null or an object with 'rope_type'", json_type_name(object));
  RopeScaling rope;
  std::string type_key = prefix + ".rope_type";
  const json* type = find_non_null(object, "rope_type");
  if (!type) {
    type = find_non_null(object, "type");  // the name used before transformers 4.45
    type_key = prefix + ".type";
  }
  if (!type) fail_at(where, "key '" + prefix + ".rope_type': expected one of default, linear, dynamic, llama3, got nothing");
  if (!type->is_string()) bad_key(where, type_key, "one of default, linear, dynamic, llama3", type->dump());
  rope.type = type->get<std::string>();
  if (rope.type == "default") return rope;
  if (rope.type != "linear" && rope.type != "dynamic" && rope.type != "llama3") {
    bad_key(where, type_key, "one of default, linear, dynamic, llama3", in_quotes(rope.type));
  }
  rope.factor = positive_number(object, "factor", where, prefix + ".factor");
  if (rope.type == "dynamic") {
    // Hugging Face's dynamic NTK scaling falls back to max_position_embeddings as the trained length.
    rope.original_max_position_embeddings = positive_int(object, "original_max_position_embeddings", where,
                                                         prefix + ".original_max_position_embeddings",
                                                         max_position_embeddings);
  }
  if (rope.type == "llama3") {
    rope.low_freq_factor = positive_number(object, "low_freq_factor", where, prefix + ".low_freq_factor");
    rope.high_freq_factor = positive_number(object, "high_freq_factor", where, prefix + ".high_freq_factor");
    rope.original_max_position_embeddings =
        positive_int(object, "original_max_position_embeddings", where, prefix + ".original_max_position_embeddings");
    // The llama3 formula interpolates between the two wavelengths and divides by their difference.
    if (!(rope.high_freq_factor > rope.low_freq_factor)) {
      bad_key(where, prefix + ".high_freq_factor",
              "a number larger than low_freq_factor (" + json(rope.low_freq_factor).dump() + ")",
              json(rope.high_freq_factor).dump());
    }
  }
  return rope;
}

void parse_moe(const json& root, const std::string& where, ModelConfig* c) {
  const json* experts = find_non_null(root, "num_experts");
  if (!experts) fail_at(where, "key 'num_experts': expected a non-negative integer, got nothing (the key is missing)");
  c->num_experts = int_value(*experts, where, "num_experts");
  if (c->num_experts < 0) bad_key(where, "num_experts", "a non-negative integer", std::to_string(c->num_experts));
  // Each expert of each layer is three entries of the tensor table built from this config: bounded so an
  // absurd count fails here instead of filling memory (DeepSeek-V3 has 61 x 256 = 15,616 layer-experts).
  constexpr int64_t kMaxLayerExperts = int64_t{1} << 18;
  if (c->num_experts > kMaxLayerExperts / c->num_hidden_layers) {
    bad_key(where, "num_experts",
            "at most " + std::to_string(kMaxLayerExperts / c->num_hidden_layers) + " (2^18 experts in all over " +
                std::to_string(c->num_hidden_layers) + " layers)",
            std::to_string(c->num_experts));
  }
  c->decoder_sparse_step = positive_int(root, "decoder_sparse_step", where, "decoder_sparse_step", 1);
  c->norm_topk_prob = bool_or(root, "norm_topk_prob", where, false);
  if (const json* layers = find_non_null(root, "mlp_only_layers")) {
    if (!layers->is_array()) bad_key(where, "mlp_only_layers", "a list of layer indices", layers->dump());
    for (const json& layer : *layers) {
      const bool integral = layer.is_number_integer() || layer.is_number_unsigned();
      if (!integral || layer.get<int64_t>() < 0 || layer.get<int64_t>() >= c->num_hidden_layers) {
        bad_key(where, "mlp_only_layers",
                "a list of layer indices in [0, " + std::to_string(c->num_hidden_layers) + ")", layers->dump());
      }
      c->mlp_only_layers.push_back(layer.get<int64_t>());
    }
  }
  if (c->num_experts == 0) return;
  // Shape-defining keys are required: a default would silently assume a shape the checkpoint never had.
  c->num_experts_per_tok = positive_int(root, "num_experts_per_tok", where, "num_experts_per_tok");
  if (c->num_experts_per_tok > c->num_experts) {
    bad_key(where, "num_experts_per_tok", "at most num_experts (" + std::to_string(c->num_experts) + ")",
            std::to_string(c->num_experts_per_tok));
  }
  c->moe_intermediate_size = positive_int(root, "moe_intermediate_size", where, "moe_intermediate_size");
  c->shared_expert_intermediate_size =
      positive_int(root, "shared_expert_intermediate_size", where, "shared_expert_intermediate_size");
}

}  // namespace

std::string architecture_name(Architecture arch) { return entry_of(arch).class_name; }

bool ModelConfig::layer_is_moe(int64_t layer) const {
  // Same rule as Hugging Face's Qwen2MoeDecoderLayer.
  const bool mlp_only = std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end();
  return !mlp_only && num_experts > 0 && decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& where) {
  const json root = parse_json_text(json_text, where);
  if (!root.is_object()) fail_at(where, "expected a JSON object, got " + json_type_name(root));
  ModelConfig c;
  c.architecture = parse_architecture(root, where, &c.model_type);
  const ArchitectureEntry& arch = entry_of(c.architecture);

  // Keys that fix tensor shapes are required; the rest default as in the Hugging Face config classes.
  c.vocab_size = positive_int(root, "vocab_size", where, "vocab_size");
  c.hidden_size = positive_int(root, "hidden_size", where, "hidden_size");
  c.intermediate_size = positive_int(root, "intermediate_size", where, "intermediate_size");
  c.num_hidden_layers = positive_int(root, "num_hidden_layers", where, "num_hidden_layers");
  if (c.num_hidden_layers > 4096) bad_key(where, "num_hidden_layers", "at most 4096 layers", std::to_string(c.num_hidden_layers));
  c.num_attention_heads = positive_int(root, "num_attention_heads", where, "num_attention_heads");
  c.num_key_value_heads = positive_int(root, "num_key_value_heads", where, "num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    bad_key(where, "num_key_value_heads",
            "a divisor of num_attention_heads (" + std::to_string(c.num_attention_heads) + ")",
            std::to_string(c.num_key_value_heads));
  }
  if (find_non_null(root, "head_dim")) {
    c.head_dim = positive_int(root, "head_dim", where, "head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      bad_key(where, "hidden_size",
              "a multiple of num_attention_heads (" + std::to_string(c.num_attention_heads) + ") when head_dim is not given",
              std::to_string(c.hidden_size));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  // Rotary embeddings rotate pairs of dimensions.
  if (c.head_dim % 2 != 0) bad_key(where, "head_dim", "an even number (rotary embeddings rotate pairs)", std::to_string(c.head_dim));

  c.rms_norm_eps = positive_number(root, "rms_norm_eps", where, "rms_norm_eps", 1e-6);
  c.max_position_embeddings =
      positive_int(root, "max_position_embeddings", where, "max_position_embeddings", arch.default_max_position_embeddings);
  c.rope_theta = positive_number(root, "rope_theta", where, "rope_theta", 10000.0);
  if (const json* params = find_non_null(root, "rope_parameters")) {
    c.rope_scaling = parse_rope_object(*params, "rope_parameters", where, c.max_position_embeddings);
    c.rope_theta = positive_number(*params, "rope_theta", where, "rope_parameters.rope_theta", c.rope_theta);
  } else if (const json* scaling = find_non_null(root, "rope_scaling")) {
    c.rope_scaling = parse_rope_object(*scaling, "rope_scaling", where, c.max_position_embeddings);
  }

  c.tie_word_embeddings = bool_or(root, "tie_word_embeddings", where, false);
  // Qwen2 attention always has q/k/v biases and never an o_proj or MLP bias, whatever the config says;
  // Llama takes both from the config.
  const bool attention_bias = bool_or(root, "attention_bias", where, false);
  const bool mlp_bias = bool_or(root, "mlp_bias", where, false);
  c.attention_bias = c.architecture == Architecture::Llama ? attention_bias : true;
  c.mlp_bias = c.architecture == Architecture::Llama ? mlp_bias : false;

  c.hidden_act = string_or_none(root, "hidden_act", where).value_or("silu");
  if (c.hidden_act != "silu") bad_key(where, "hidden_act", "'silu' (the only activation lil implements)", in_quotes(c.hidden_act));
  // transformers 5 renamed torch_dtype to dtype.
  c.torch_dtype = string_or_none(root, "dtype", where).value_or(string_or_none(root, "torch_dtype", where).value_or(""));
  c.bos_token_id = optional_int(root, "bos_token_id", where);
  c.eos_token_ids = int_or_int_list(root, "eos_token_id", where);

  // Settings that change the computation in ways lil does not implement are refused rather than ignored.
  if (c.architecture != Architecture::Llama && bool_or(root, "use_sliding_window", where, false)) {
    bad_key(where, "use_sliding_window", "false (sliding-window attention is not implemented)", "true");
  }
  if (find_non_null(root, "quantization_config")) {
    bad_key(where, "quantization_config", "no quantization (lil loads F32, F16 or BF16 weights)", "an object");
  }

  if (c.architecture == Architecture::Qwen2Moe) parse_moe(root, where, &c);
  return c;
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return parse_model_config(read_text_file(path), path);
}

GenerationConfig load_generation_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  GenerationConfig g;
  if (!path_exists(path, dir)) return g;
  const json root = read_json_file(path);
  if (!root.is_object()) fail_at(path, "expected a JSON object, got " + json_type_name(root));
  g.eos_token_ids = int_or_int_list(root, "eos_token_id", path);
  g.bos_token_id = optional_int(root, "bos_token_id", path);
  g.pad_token_id = optional_int(root, "pad_token_id", path);
  return g;
}

}  // namespace lil
