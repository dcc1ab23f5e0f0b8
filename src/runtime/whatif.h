#pragma once
// `lil whatif`: replays a stop controller over outputs generated WITHOUT one (stored token ids), for a grid
// of controller settings: the step it would have stopped at, tokens saved, the answer available at that
// point and its correctness, and the JCT implied (TTFT + tokens x the row's measured TBT). Controllers that
// need the logits (entropy_plateau) cannot be replayed from ids and are refused.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lil {

struct WhatIfOptions {
  std::string db_path;
  std::string controller;
  std::map<std::string, std::vector<std::string>> grid;  // knob -> values (cross product)
  std::map<std::string, std::string> fixed_args;         // knobs held fixed
  std::string model_dir;  // tokenizer for decoding prefixes; default: the sweep config's model path
};

struct WhatIfRow {
  std::string model, dataset, record_id, policy;
  int64_t budget = 0, sample = 0;
  std::map<std::string, std::string> setting;
  int64_t output_tokens = 0;  // without a controller
  int64_t stop_step = -1;     // -1: would not have stopped
  int64_t kept_tokens = 0;
  bool correct_before = false, correct_after = false;
  std::string answer_after;
  double jct_before_s = 0, jct_after_s = 0;
};

struct WhatIfResult {
  std::vector<WhatIfRow> rows;
  nlohmann::json summary;  // per (model, dataset, policy, budget, setting): savings, accuracy change, JCT change
};

WhatIfResult run_whatif(const WhatIfOptions& options);
std::string whatif_markdown(const WhatIfResult& result);

// Compares predictions with the rows of real controlled runs in the same database (same controller and
// knobs): returns one line per disagreement (stop step or tokens up to the stop); empty when all agree.
std::vector<std::string> verify_whatif(const WhatIfOptions& options);

}  // namespace lil
