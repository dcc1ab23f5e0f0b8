// `lil train` configs: JSON with sections task / model / optimizer / eval (see configs/train-tiny.json).
// Every key is checked; an unknown key or a bad value names the file and the key. No torch here.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json_util.h"
#include "runtime/train.h"

namespace lil {

namespace {

namespace fs = std::filesystem;

// Reads the keys of one section, refusing any it does not know.
class Section {
 public:
  Section(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) fail_at(where_, "expected a JSON object, got " + json_type_name(object_));
  }
  template <typename T>
  void read(const std::string& key, T& field) {
    known_.push_back(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return;
    const std::string at = where_ + ": key '" + key + "'";
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) fail_at(at, "expected true or false, got " + json_type_name(*it));
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) fail_at(at, "expected an integer, got " + json_type_name(*it));
      if (it->get<int64_t>() < 0) fail_at(at, "expected a non-negative integer, got " + it->dump());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) fail_at(at, "expected a number, got " + json_type_name(*it));
    } else {
      if (!it->is_string()) fail_at(at, "expected a string, got " + json_type_name(*it));
    }
    field = it->get<T>();
  }
  const json* sub(const std::string& key) {
    known_.push_back(key);
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  void refuse_unknown() const {
    for (const auto& [key, value] : object_.items()) {
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail_at(where_, "unknown key '" + key + "' (known: " + list + ")");
    }
  }

 private:
  const json& object_;
  std::string where_;
  std::vector<std::string> known_;
};

void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) fail_at(where, what);
}

}  // namespace

TrainConfig parse_train_config(const std::string& json_text, const std::string& where, const std::string& base_dir) {
  const json doc = parse_json_text(json_text, where);
  TrainConfig c;
  c.text = json_text;
  Section root(doc, where);
  root.read("name", c.name);
  root.read("out_dir", c.out_dir);
  root.read("seed", c.seed);
  root.read("device", c.device);
  root.read("template", c.prompt_template);
  std::string description;  // free text for readers of the config
  root.read("description", description);
  if (const json* task = root.sub("task")) {
    Section s(*task, where + ": task");
    std::string kind = "varchain";
    s.read("kind", kind);
    require(kind == "varchain", where + ": task.kind", "expected 'varchain' (the only synthetic task), got '" + kind + "'");
    s.read("seed", c.task_seed);
    if (const json* knobs = s.sub("knobs")) c.task = parse_varchain_options(*knobs, where + ": task.knobs");
    s.refuse_unknown();
  }
  if (const json* model = root.sub("model")) {
    Section s(*model, where + ": model");
    TrainModelShape& m = c.model;
    for (const auto& [key, field] : {std::pair{"hidden_size", &m.hidden_size}, {"intermediate_size", &m.intermediate_size},
                                     {"num_hidden_layers", &m.num_hidden_layers},
                                     {"num_attention_heads", &m.num_attention_heads},
                                     {"num_key_value_heads", &m.num_key_value_heads},
                                     {"max_position_embeddings", &m.max_position_embeddings}}) {
      s.read(key, *field);
    }
    s.read("rope_theta", m.rope_theta);
    s.read("rms_norm_eps", m.rms_norm_eps);
    s.read("tie_word_embeddings", m.tie_word_embeddings);
    s.refuse_unknown();
    if (m.num_key_value_heads == 0) m.num_key_value_heads = m.num_attention_heads;
    const std::string at = where + ": model";
    require(m.hidden_size > 0 && m.intermediate_size > 0 && m.num_hidden_layers > 0, at, "sizes must be positive");
    require(m.num_attention_heads > 0 && m.hidden_size % m.num_attention_heads == 0, at + ".num_attention_heads",
            "must divide hidden_size");
    require(m.num_key_value_heads > 0 && m.num_attention_heads % m.num_key_value_heads == 0, at + ".num_key_value_heads",
            "must divide num_attention_heads");
    require((m.hidden_size / m.num_attention_heads) % 2 == 0, at, "head_dim (hidden_size / heads) must be even");
  }
  if (c.model.num_key_value_heads == 0) c.model.num_key_value_heads = c.model.num_attention_heads;  // no model section
  if (const json* opt = root.sub("optimizer")) {
    Section s(*opt, where + ": optimizer");
    for (const auto& [key, field] : {std::pair{"steps", &c.steps}, {"batch_size", &c.batch_size}, {"warmup_steps", &c.warmup_steps}}) {
      s.read(key, *field);
    }
    for (const auto& [key, field] : {std::pair{"lr", &c.lr}, {"min_lr_ratio", &c.min_lr_ratio}, {"weight_decay", &c.weight_decay},
                                     {"beta1", &c.beta1}, {"beta2", &c.beta2}, {"grad_clip", &c.grad_clip}}) {
      s.read(key, *field);
    }
    s.refuse_unknown();
    const std::string at = where + ": optimizer";
    require(c.batch_size > 0, at + ".batch_size", "must be positive");
    require(c.lr > 0 && std::isfinite(c.lr), at + ".lr", "must be a positive number");
    require(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1, at + ".min_lr_ratio", "must be in [0, 1]");
    require(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1, at, "beta1 and beta2 must be in [0, 1)");
    require(c.grad_clip >= 0, at + ".grad_clip", "must be >= 0 (0: no clipping)");
  }
  if (const json* eval = root.sub("eval")) {
    Section s(*eval, where + ": eval");
    s.read("every", c.eval_every);
    s.read("problems", c.eval_problems);
    s.read("max_new_tokens", c.eval_max_new_tokens);
    s.refuse_unknown();
    require(c.eval_max_new_tokens > 0, where + ": eval.max_new_tokens", "must be positive");
  }
  root.read("log_every", c.log_every);
  root.read("checkpoint_every", c.checkpoint_every);
  root.refuse_unknown();
  require(c.device == "cpu" || c.device == "cuda" || c.device == "auto" || c.device.rfind("cuda:", 0) == 0,
          where + ": key 'device'", "expected cpu, cuda, cuda:N or auto, got '" + c.device + "'");
  require(!c.out_dir.empty(), where + ": key 'out_dir'", "missing (the checkpoint directory to write)");
  if (fs::path(c.out_dir).is_relative()) c.out_dir = (fs::path(base_dir) / c.out_dir).lexically_normal().string();
  if (c.name.empty()) c.name = fs::path(c.out_dir).filename().string();
  if (c.log_every <= 0) c.log_every = 1;
  return c;
}

TrainConfig load_train_config(const std::string& path) {
  TrainConfig c = parse_train_config(read_text_file(path), path, fs::path(path).parent_path().string());
  c.source_path = path;
  return c;
}

double learning_rate_at(const TrainConfig& c, int64_t step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const double span = std::max<int64_t>(1, c.steps - c.warmup_steps - 1);
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine);
}

}  // namespace lil
