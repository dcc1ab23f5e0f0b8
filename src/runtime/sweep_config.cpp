#include "runtime/sweep_config.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json_util.h"
#include "runtime/results_db.h"

#include <unistd.h>

namespace lil {

namespace {

// Collects every problem so one run of `lil sweep --dry-run` reports them all.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void add(const std::string& key, const std::string& what) { items_.push_back(key + ": " + what); }
  void raise_if_any() const {
    if (items_.empty()) return;
    std::ostringstream msg;
    msg << items_.size() << " problem(s) in the sweep config:";
    for (const auto& i : items_) msg << "\n  " << file_ << ": " << i;
    throw LilError(msg.str());
  }

 private:
  std::string file_;
  std::vector<std::string> items_;
};

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}
std::string join(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void check_keys(const json& obj, const std::string& where, const std::set<std::string>& allowed, Problems& p) {
  if (!obj.is_object()) {
    p.add(where, "expected an object, got " + json_type_name(obj));
    return;
  }
  for (const auto& [key, value] : obj.items()) {
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      p.add(where + "." + key, "unknown key (expected one of: " + list + ")");
    }
  }
}

template <typename T>
std::optional<T> get_typed(const json& obj, const std::string& key, const std::string& where, Problems& p) {
  if (!obj.is_object() || !obj.contains(key) || obj.at(key).is_null()) return std::nullopt;
  const json& v = obj.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    if (v.is_string()) return v.get<std::string>();
    p.add(where + "." + key, "expected a string, got " + json_type_name(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    if (v.is_boolean()) return v.get<bool>();
    p.add(where + "." + key, "expected true or false, got " + json_type_name(v));
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_integer() || v.is_number_unsigned()) return v.get<T>();
    p.add(where + "." + key, "expected an integer, got " + json_type_name(v));
  } else {
    if (v.is_number()) return v.get<T>();
    p.add(where + "." + key, "expected a number, got " + json_type_name(v));
  }
  return std::nullopt;
}

std::map<std::string, std::string> get_args(const json& obj, const std::string& where, Problems& p) {
  std::map<std::string, std::string> out;
  if (!obj.is_object() || !obj.contains("args")) return out;
  const json& a = obj.at("args");
  if (!a.is_object()) {
    p.add(where + ".args", "expected an object of knob: value, got " + json_type_name(a));
    return out;
  }
  for (const auto& [k, v] : a.items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
    else if (v.is_number_integer() || v.is_number_unsigned()) out[k] = std::to_string(v.get<int64_t>());
    else if (v.is_number()) out[k] = v.dump();
    else if (v.is_boolean()) out[k] = v.get<bool>() ? "1" : "0";
    else p.add(where + ".args." + k, "expected a string or number, got " + json_type_name(v));
  }
  return out;
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

bool directory_exists(const std::string& path);

}  // namespace

std::string canonical_args(const std::map<std::string, std::string>& args) {
  json j = json::object();
  for (const auto& [k, v] : args) j[k] = v;
  return j.dump();
}

bool SweepCell::is_reference() const {
  return config->policies[policy].name == "full" && config->controllers[controller].name == "none";
}

SweepConfig load_sweep_config(const std::string& path, const SweepVocabulary& vocabulary) {
  json doc = read_json_file(path);
  std::string base = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  SweepConfig config = parse_sweep_config(doc, path, base, vocabulary);
  config.source_path = path;
  return config;
}

SweepConfig parse_sweep_config(const json& doc, const std::string& where, const std::string& base_dir,
                               const SweepVocabulary& vocab) {
  Problems p(where);
  SweepConfig c;
  check_keys(doc, "config", {"name", "description", "models", "datasets", "policies", "controllers", "sampling",
                             "max_new_tokens", "length_cap", "batch_size", "on_stop", "force_answer_max_tokens"},
             p);
  if (!doc.is_object()) p.raise_if_any();
  c.name = get_typed<std::string>(doc, "name", "config", p).value_or("");

  auto list_of = [&](const std::string& key) -> std::vector<json> {
    if (!doc.contains(key)) {
      p.add(key, "missing (expected a non-empty list)");
      return {};
    }
    const json& v = doc.at(key);
    if (!v.is_array() || v.empty()) {
      p.add(key, "expected a non-empty list, got " + json_type_name(v));
      return {};
    }
    return std::vector<json>(v.begin(), v.end());
  };

  std::set<std::string> model_names;
  auto models = list_of("models");
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string w = "models[" + std::to_string(i) + "]";
    check_keys(models[i], w, {"name", "path", "template", "dtype", "device"}, p);
    SweepModel m;
    m.path = get_typed<std::string>(models[i], "path", w, p).value_or("");
    if (m.path.empty()) p.add(w + ".path", "missing (a checkpoint directory)");
    m.path = resolve(base_dir, m.path);
    if (!m.path.empty() && !directory_exists(m.path)) p.add(w + ".path", "model directory '" + m.path + "' does not exist");
    m.name = get_typed<std::string>(models[i], "name", w, p).value_or(m.path.substr(m.path.rfind('/') + 1));
    if (!model_names.insert(m.name).second) p.add(w + ".name", "duplicate model name '" + m.name + "'");
    m.prompt_template = get_typed<std::string>(models[i], "template", w, p).value_or("plain");
    if (!vocab.templates.empty() && !contains(vocab.templates, m.prompt_template) &&
        m.prompt_template.find(".json") == std::string::npos) {
      p.add(w + ".template", "unknown prompt template '" + m.prompt_template + "' (known: " + join(vocab.templates) + ")");
    }
    m.dtype = get_typed<std::string>(models[i], "dtype", w, p).value_or("auto");
    if (!contains({"auto", "float32", "bfloat16", "float16"}, m.dtype)) {
      p.add(w + ".dtype", "expected auto, float32, bfloat16 or float16, got '" + m.dtype + "'");
    }
    m.device = get_typed<std::string>(models[i], "device", w, p).value_or("cpu");
    if (m.device != "cpu" && m.device.rfind("cuda", 0) != 0) p.add(w + ".device", "expected cpu or cuda[:N], got '" + m.device + "'");
    c.models.push_back(m);
  }

  std::set<std::string> dataset_names;
  auto datasets = list_of("datasets");
  for (size_t i = 0; i < datasets.size(); ++i) {
    const std::string w = "datasets[" + std::to_string(i) + "]";
    check_keys(datasets[i], w, {"name", "kind", "path", "limit", "offset", "sample", "question_field", "answer_field", "id_field"}, p);
    SweepDataset d;
    d.kind = get_typed<std::string>(datasets[i], "kind", w, p).value_or(
        get_typed<std::string>(datasets[i], "name", w, p).value_or(""));
    d.name = get_typed<std::string>(datasets[i], "name", w, p).value_or(d.kind);
    if (d.kind.empty()) p.add(w + ".kind", "missing (a data set kind)");
    else if (!vocab.dataset_kinds.empty() && !contains(vocab.dataset_kinds, d.kind)) {
      p.add(w + ".kind", "unknown data set '" + d.kind + "' (known: " + join(vocab.dataset_kinds) + ")");
    }
    if (!dataset_names.insert(d.name).second) p.add(w + ".name", "duplicate data set name '" + d.name + "'");
    d.path = resolve(base_dir, get_typed<std::string>(datasets[i], "path", w, p).value_or(""));
    d.limit = get_typed<int64_t>(datasets[i], "limit", w, p).value_or(-1);
    d.offset = get_typed<int64_t>(datasets[i], "offset", w, p).value_or(0);
    d.sample = get_typed<bool>(datasets[i], "sample", w, p).value_or(false);
    if (d.sample && !d.path.empty()) p.add(w + ".sample", "give either a path or sample: true, not both");
    if (d.limit == 0 || d.limit < -1) p.add(w + ".limit", "expected a positive integer (or absent for all)");
    if (d.offset < 0) p.add(w + ".offset", "expected >= 0");
    d.question_field = get_typed<std::string>(datasets[i], "question_field", w, p).value_or("");
    d.answer_field = get_typed<std::string>(datasets[i], "answer_field", w, p).value_or("");
    d.id_field = get_typed<std::string>(datasets[i], "id_field", w, p).value_or("");
    c.datasets.push_back(d);
  }

  auto policies = list_of("policies");
  for (size_t i = 0; i < policies.size(); ++i) {
    const std::string w = "policies[" + std::to_string(i) + "]";
    check_keys(policies[i], w, {"name", "budgets", "args"}, p);
    SweepPolicy pol;
    pol.name = get_typed<std::string>(policies[i], "name", w, p).value_or("");
    if (pol.name.empty()) p.add(w + ".name", "missing");
    else if (!vocab.policies.empty() && !contains(vocab.policies, pol.name)) {
      p.add(w + ".name", "unknown policy '" + pol.name + "' (known: " + join(vocab.policies) + ")");
    }
    pol.args = get_args(policies[i], w, p);
    if (policies[i].is_object() && policies[i].contains("budgets")) {
      const json& b = policies[i].at("budgets");
      if (!b.is_array() || b.empty()) p.add(w + ".budgets", "expected a non-empty list of KV token counts");
      else {
        for (const auto& v : b) {
          if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<int64_t>() < 1) {
            p.add(w + ".budgets", "expected positive integers (absolute KV tokens), got " + v.dump());
          } else {
            pol.budgets.push_back(v.get<int64_t>());
          }
        }
      }
    }
    if (pol.name == "full") {
      if (!pol.budgets.empty()) p.add(w + ".budgets", "policy 'full' takes no budget");
      pol.budgets = {0};
    } else if (pol.budgets.empty() && !pol.name.empty()) {
      p.add(w + ".budgets", "missing (policy '" + pol.name + "' needs budgets)");
    }
    c.policies.push_back(pol);
  }

  if (doc.contains("controllers")) {
    auto controllers = list_of("controllers");
    for (size_t i = 0; i < controllers.size(); ++i) {
      const std::string w = "controllers[" + std::to_string(i) + "]";
      check_keys(controllers[i], w, {"name", "args"}, p);
      SweepController ctl;
      ctl.name = get_typed<std::string>(controllers[i], "name", w, p).value_or("none");
      if (ctl.name != "none" && !vocab.controllers.empty() && !contains(vocab.controllers, ctl.name)) {
        p.add(w + ".name", "unknown controller '" + ctl.name + "' (known: none, " + join(vocab.controllers) + ")");
      }
      ctl.args = get_args(controllers[i], w, p);
      c.controllers.push_back(ctl);
    }
  } else {
    c.controllers.push_back(SweepController{});
  }

  if (doc.contains("sampling")) {
    const json& s = doc.at("sampling");
    check_keys(s, "sampling", {"temperature", "top_p", "top_k", "n", "seed"}, p);
    c.sampling.temperature = get_typed<double>(s, "temperature", "sampling", p).value_or(0.0);
    c.sampling.top_p = get_typed<double>(s, "top_p", "sampling", p).value_or(1.0);
    c.sampling.top_k = get_typed<int64_t>(s, "top_k", "sampling", p).value_or(0);
    c.sampling.n = get_typed<int64_t>(s, "n", "sampling", p).value_or(1);
    c.sampling.seed = get_typed<uint64_t>(s, "seed", "sampling", p).value_or(0);
    if (c.sampling.temperature < 0) p.add("sampling.temperature", "expected >= 0");
    if (!(c.sampling.top_p > 0 && c.sampling.top_p <= 1)) p.add("sampling.top_p", "expected a value in (0, 1]");
    if (c.sampling.n < 1) p.add("sampling.n", "expected >= 1");
    if (c.sampling.n > 1 && c.sampling.temperature == 0) {
      p.add("sampling.n", "several samples with greedy decoding (temperature 0) would all be identical");
    }
  }
  c.max_new_tokens = get_typed<int64_t>(doc, "max_new_tokens", "config", p).value_or(512);
  if (c.max_new_tokens < 1) p.add("max_new_tokens", "expected >= 1");
  c.batch_size = get_typed<int64_t>(doc, "batch_size", "config", p).value_or(8);
  if (c.batch_size < 1) p.add("batch_size", "expected >= 1");
  c.on_stop = get_typed<std::string>(doc, "on_stop", "config", p).value_or("truncate");
  if (c.on_stop != "truncate" && c.on_stop != "force_answer") p.add("on_stop", "expected truncate or force_answer");
  c.force_answer_max_tokens = get_typed<int64_t>(doc, "force_answer_max_tokens", "config", p).value_or(64);
  if (c.force_answer_max_tokens < 1) p.add("force_answer_max_tokens", "expected >= 1");
  if (doc.contains("length_cap")) {
    const json& lc = doc.at("length_cap");
    check_keys(lc, "length_cap", {"enabled", "multiple", "ceiling"}, p);
    c.length_cap.enabled = get_typed<bool>(lc, "enabled", "length_cap", p).value_or(true);
    c.length_cap.multiple = get_typed<double>(lc, "multiple", "length_cap", p).value_or(2.0);
    c.length_cap.ceiling = get_typed<int64_t>(lc, "ceiling", "length_cap", p).value_or(0);
    if (!(c.length_cap.multiple > 0)) p.add("length_cap.multiple", "expected > 0");
    if (c.length_cap.ceiling < 0) p.add("length_cap.ceiling", "expected >= 0");
    if (c.length_cap.enabled) {
      const bool has_full = std::any_of(c.policies.begin(), c.policies.end(), [](const auto& x) { return x.name == "full"; });
      const bool has_none = std::any_of(c.controllers.begin(), c.controllers.end(), [](const auto& x) { return x.name == "none"; });
      if (!has_full || !has_none) {
        p.add("length_cap", "the cap comes from the full-attention run without a controller: the grid needs "
                            "policy 'full' and controller 'none'");
      }
    }
  }
  p.raise_if_any();
  c.text = doc.dump();
  c.hash = stable_hash(c.text);
  return c;
}

std::vector<SweepCell> expand_grid(const SweepConfig& config) {
  std::vector<SweepCell> cells;
  for (size_t m = 0; m < config.models.size(); ++m) {
    for (size_t d = 0; d < config.datasets.size(); ++d) {
      for (size_t p = 0; p < config.policies.size(); ++p) {
        for (int64_t budget : config.policies[p].budgets) {
          for (size_t c = 0; c < config.controllers.size(); ++c) {
            SweepCell cell{m, d, p, c, budget, "", &config};
            cell.key = config.models[m].name + "|" + config.datasets[d].name + "|" + config.policies[p].name + "|" +
                       std::to_string(budget) + "|" + canonical_args(config.policies[p].args) + "|" +
                       config.controllers[c].name + "|" + canonical_args(config.controllers[c].args);
            cells.push_back(cell);
          }
        }
      }
    }
  }
  // Full attention without a controller first: it sets the length cap of every other cell.
  std::stable_sort(cells.begin(), cells.end(), [](const SweepCell& a, const SweepCell& b) {
    if (a.model != b.model) return a.model < b.model;
    return a.is_reference() && !b.is_reference();
  });
  return cells;
}

namespace {
bool directory_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}
}  // namespace

}  // namespace lil
