#pragma once
// A sweep config (JSON): models x data sets x policies/budgets x controllers, with sampling, limits, the
// study's length cap and the batch size. Every problem is reported before any work starts (one LilError
// listing them all). Relative paths resolve against the config file's folder. No torch here.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lil {

struct SweepModel {
  std::string name, path, prompt_template = "plain", dtype = "auto", device = "cpu";
};
struct SweepDataset {
  std::string name, kind, path;  // kind: gsm8k | math500 | aime24 | aime25 | amc23 | jsonl | ...
  int64_t limit = -1, offset = 0;
  bool sample = false;  // the small hand-written sample file in datasets/samples/ instead of the real data
  std::string question_field, answer_field, id_field;  // generic jsonl
};
struct SweepPolicy {
  std::string name;
  std::vector<int64_t> budgets;  // {0} for full
  std::map<std::string, std::string> args;
};
struct SweepController {
  std::string name = "none";
  std::map<std::string, std::string> args;
};
struct LengthCap {
  bool enabled = false;
  double multiple = 2.0;     // cap sparse cells at multiple x the full-attention output length of the problem
  int64_t ceiling = 0;       // absolute ceiling (0 = max_new_tokens)
};
struct SweepSampling {
  double temperature = 0.0, top_p = 1.0;
  int64_t top_k = 0, n = 1;
  uint64_t seed = 0;
};

struct SweepConfig {
  std::string name;
  std::string source_path;   // the config file
  std::string text;          // canonical JSON text (hashed for identity)
  std::string hash;
  std::vector<SweepModel> models;
  std::vector<SweepDataset> datasets;
  std::vector<SweepPolicy> policies;
  std::vector<SweepController> controllers;
  SweepSampling sampling;
  int64_t max_new_tokens = 512;
  LengthCap length_cap;
  int64_t batch_size = 8;
  std::string on_stop = "truncate";  // truncate | force_answer
  int64_t force_answer_max_tokens = 64;
};

// Names the config is validated against (the registries live in torch code; pass them in).
struct SweepVocabulary {
  std::vector<std::string> policies, controllers, dataset_kinds, templates;
};

SweepConfig load_sweep_config(const std::string& path, const SweepVocabulary& vocabulary);
SweepConfig parse_sweep_config(const nlohmann::json& doc, const std::string& where, const std::string& base_dir,
                               const SweepVocabulary& vocabulary);

// One cell of the grid.
struct SweepCell {
  size_t model = 0, dataset = 0, policy = 0, controller = 0;
  int64_t budget = 0;
  std::string key;  // stable identity: model|dataset|policy|budget|args|controller|args
  bool is_reference() const;  // full attention, no controller (the length-cap reference)
  const SweepConfig* config = nullptr;
};
std::vector<SweepCell> expand_grid(const SweepConfig& config);

std::string canonical_args(const std::map<std::string, std::string>& args);

}  // namespace lil
