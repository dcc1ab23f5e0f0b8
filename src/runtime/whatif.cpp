#include "runtime/whatif.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"
#include "runtime/controller.h"
#include "runtime/results_db.h"
#include "runtime/sweep.h"
#include "runtime/sweep_config.h"
#include "tokenizer/tokenizer.h"

namespace lil {

namespace {

std::vector<std::map<std::string, std::string>> expand(const std::map<std::string, std::vector<std::string>>& grid,
                                                       const std::map<std::string, std::string>& fixed) {
  std::vector<std::map<std::string, std::string>> out = {fixed};
  for (const auto& [key, values] : grid) {
    std::vector<std::map<std::string, std::string>> next;
    for (const auto& partial : out) {
      for (const auto& v : values) {
        auto m = partial;
        m[key] = v;
        next.push_back(m);
      }
    }
    out.swap(next);
  }
  return out;
}

struct SweepContext {
  std::map<std::string, std::string> dataset_kind;  // dataset name -> kind
  std::map<std::string, std::string> model_path;    // model name -> path (as resolved from the config)
};

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

SweepContext context_from_runs(const ResultsDb& db) {
  SweepContext ctx;
  const auto runs = db.runs();
  if (runs.empty()) fail_at(db.path(), "has no sweep run recorded");
  const RunInfo& run = runs.front();
  json config = parse_json_text(run.config_text, db.path() + " (stored sweep config)");
  // The command line is "lil sweep CONFIG --out DB": relative model paths were relative to CONFIG's folder.
  std::string base = ".";
  const std::string prefix = "lil sweep ";
  if (run.command.rfind(prefix, 0) == 0) base = directory_of(run.command.substr(prefix.size(), run.command.find(' ', prefix.size()) - prefix.size()));
  // The same reading as the sweep's (names, relative paths), so a model resolves to the checkpoint it ran.
  const SweepConfig parsed = parse_sweep_config(config, db.path() + " (stored sweep config)", base, sweep_vocabulary());
  for (const auto& m : parsed.models) ctx.model_path[m.name] = m.path;
  for (const auto& d : parsed.datasets) ctx.dataset_kind[d.name] = d.kind;
  return ctx;
}

struct Replay {
  int64_t stop_step = -1;
};

Replay replay(const std::string& controller, const std::map<std::string, std::string>& args, const Tokenizer& tokenizer,
              const std::vector<int32_t>& tokens, int64_t vocab_size) {
  auto knobs = args;
  if (controller == "guardian" && !knobs.count("device")) knobs["device"] = "cpu";
  std::unique_ptr<StopController> c = make_controller(controller, knobs);
  if (!c) fail_at("--controller", "'none' cannot be replayed");
  c->reset(ControllerContext{&tokenizer, 1, vocab_size, static_cast<int64_t>(tokens.size())});
  const int64_t every = c->check_every();
  // The engine checks a row after its n-th token when n is a multiple of `every` and the row is still
  // generating, i.e. not at its last token (eos or the length limit ended it there).
  for (int64_t n = every; n < static_cast<int64_t>(tokens.size()); n += every) {
    std::vector<std::vector<int32_t>> prefix = {std::vector<int32_t>(tokens.begin(), tokens.begin() + n)};
    auto checks = c->check({true}, prefix);
    if (checks.at(0).fired) return Replay{n};
  }
  return Replay{};
}

}  // namespace

WhatIfResult run_whatif(const WhatIfOptions& o) {
  static const std::set<std::string> kNeedsLogits = {"entropy_plateau"};
  if (kNeedsLogits.count(o.controller)) {
    fail_at("--controller", "'" + o.controller + "' reads the logits, which results databases do not store; "
                            "what-if replays controllers that read token ids or text");
  }
  ResultsDb db(o.db_path, /*writer=*/false);
  SweepContext ctx = context_from_runs(db);
  std::map<std::string, std::unique_ptr<Tokenizer>> tokenizers;
  auto tokenizer_for = [&](const std::string& model) -> const Tokenizer& {
    auto it = tokenizers.find(model);
    if (it != tokenizers.end()) return *it->second;
    std::string dir = o.model_dir.empty() ? ctx.model_path[model] : o.model_dir;
    if (dir.empty()) fail_at(o.db_path, "cannot tell where model '" + model + "' is; pass --model-dir");
    auto tok = std::make_unique<Tokenizer>(Tokenizer::from_model_dir(dir));
    return *tokenizers.emplace(model, std::move(tok)).first->second;
  };
  const auto settings = expand(o.grid, o.fixed_args);
  WhatIfResult result;
  for (const ResultRow& r : db.rows()) {
    if (r.controller != "none" || !r.error.empty()) continue;
    const Tokenizer& tok = tokenizer_for(r.model);
    const std::vector<int32_t> tokens = parse_json_text(r.token_ids.empty() ? "[]" : r.token_ids, o.db_path)
                                            .get<std::vector<int32_t>>();
    const DatasetKind& kind = find_dataset_kind(ctx.dataset_kind.count(r.dataset) ? ctx.dataset_kind[r.dataset] : r.dataset);
    for (const auto& setting : settings) {
      Replay rep = replay(o.controller, setting, tok, tokens, tok.vocab_size());
      WhatIfRow w;
      w.model = r.model;
      w.dataset = r.dataset;
      w.record_id = r.record_id;
      w.policy = r.policy;
      w.budget = r.budget;
      w.sample = r.sample;
      w.setting = setting;
      w.output_tokens = static_cast<int64_t>(tokens.size());
      w.stop_step = rep.stop_step;
      w.kept_tokens = rep.stop_step >= 0 ? rep.stop_step : w.output_tokens;
      w.correct_before = r.correct;
      w.jct_before_s = r.jct_s;
      if (rep.stop_step >= 0) {
        const std::string text = tok.decode(std::vector<int32_t>(tokens.begin(), tokens.begin() + rep.stop_step));
        const Verdict v = grade(kind, text, r.gold_answer);
        w.correct_after = v.correct;
        w.answer_after = v.extracted.value_or("");
        w.jct_after_s = r.ttft_s + static_cast<double>(rep.stop_step - 1) * r.tbt_mean_s;
      } else {
        w.correct_after = r.correct;
        w.answer_after = r.extracted_answer;
        w.jct_after_s = r.jct_s;
      }
      result.rows.push_back(std::move(w));
    }
  }
  // Summary per (model, dataset, policy, budget, setting).
  std::map<std::string, json> groups;
  std::vector<std::string> order;
  for (const auto& w : result.rows) {
    json setting = json::object();
    for (const auto& [k, v] : w.setting) setting[k] = v;
    const std::string key = w.model + "|" + w.dataset + "|" + w.policy + "|" + std::to_string(w.budget) + "|" + setting.dump();
    if (!groups.count(key)) {
      order.push_back(key);
      groups[key] = {{"model", w.model}, {"dataset", w.dataset}, {"policy", w.policy}, {"budget", w.budget},
                     {"setting", setting}, {"n", 0}, {"tokens_before", 0.0}, {"tokens_after", 0.0}, {"correct_before", 0},
                     {"correct_after", 0}, {"jct_before_s", 0.0}, {"jct_after_s", 0.0}, {"stopped", 0}};
    }
    json& g = groups[key];
    g["n"] = g["n"].get<int>() + 1;
    g["tokens_before"] = g["tokens_before"].get<double>() + static_cast<double>(w.output_tokens);
    g["tokens_after"] = g["tokens_after"].get<double>() + static_cast<double>(w.kept_tokens);
    g["correct_before"] = g["correct_before"].get<int>() + (w.correct_before ? 1 : 0);
    g["correct_after"] = g["correct_after"].get<int>() + (w.correct_after ? 1 : 0);
    g["jct_before_s"] = g["jct_before_s"].get<double>() + w.jct_before_s;
    g["jct_after_s"] = g["jct_after_s"].get<double>() + w.jct_after_s;
    g["stopped"] = g["stopped"].get<int>() + (w.stop_step >= 0 ? 1 : 0);
  }
  json cells = json::array();
  for (const auto& key : order) {
    json g = groups[key];
    const double n = g["n"].get<int>();
    const double tb = g["tokens_before"].get<double>(), ta = g["tokens_after"].get<double>();
    const double jb = g["jct_before_s"].get<double>(), ja = g["jct_after_s"].get<double>();
    g["token_savings"] = tb > 0 ? 1.0 - ta / tb : 0.0;
    g["accuracy_before"] = g["correct_before"].get<int>() / n;
    g["accuracy_after"] = g["correct_after"].get<int>() / n;
    g["accuracy_change_points"] = 100.0 * (g["accuracy_after"].get<double>() - g["accuracy_before"].get<double>());
    g["jct_change"] = jb > 0 ? ja / jb - 1.0 : 0.0;
    g["stopped_share"] = g["stopped"].get<int>() / n;
    cells.push_back(g);
  }
  result.summary = {{"controller", o.controller}, {"cells", cells}};
  return result;
}

std::string whatif_markdown(const WhatIfResult& result) {
  std::string out = "| model | dataset | policy | budget | setting | n | stopped | tokens saved | accuracy | acc change | JCT change |\n"
                    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  char buf[512];
  for (const auto& c : result.summary["cells"]) {
    std::string setting;
    for (const auto& [k, v] : c["setting"].items()) setting += (setting.empty() ? "" : " ") + k + "=" + v.get<std::string>();
    std::snprintf(buf, sizeof buf, "| %s | %s | %s | %s | %s | %d | %.0f%% | %.1f%% | %.1f%% | %+.1f pts | %+.1f%% |\n",
                  c["model"].get<std::string>().c_str(), c["dataset"].get<std::string>().c_str(),
                  c["policy"].get<std::string>().c_str(),
                  c["policy"] == "full" ? "-" : std::to_string(c["budget"].get<int64_t>()).c_str(), setting.c_str(),
                  c["n"].get<int>(), 100 * c["stopped_share"].get<double>(), 100 * c["token_savings"].get<double>(),
                  100 * c["accuracy_after"].get<double>(), c["accuracy_change_points"].get<double>(),
                  100 * c["jct_change"].get<double>());
    out += buf;
  }
  return out;
}

std::vector<std::string> verify_whatif(const WhatIfOptions& o) {
  ResultsDb db(o.db_path, /*writer=*/false);
  const auto rows = db.rows();
  std::map<std::string, const ResultRow*> uncontrolled;
  for (const auto& r : rows) {
    if (r.controller == "none" && r.error.empty()) {
      uncontrolled[r.model + "|" + r.dataset + "|" + r.policy + "|" + std::to_string(r.budget) + "|" + r.policy_args + "|" +
                   r.record_id + "|" + std::to_string(r.sample)] = &r;
    }
  }
  SweepContext ctx = context_from_runs(db);
  std::vector<std::string> problems;
  int compared = 0;
  for (const auto& r : rows) {
    if (r.controller != o.controller || !r.error.empty()) continue;
    auto it = uncontrolled.find(r.model + "|" + r.dataset + "|" + r.policy + "|" + std::to_string(r.budget) + "|" +
                                r.policy_args + "|" + r.record_id + "|" + std::to_string(r.sample));
    if (it == uncontrolled.end()) continue;
    std::map<std::string, std::string> args;
    const json stored_args = parse_json_text(r.controller_args, o.db_path);  // named: items() must not outlive it
    for (const auto& [k, v] : stored_args.items()) args[k] = v.get<std::string>();
    const Tokenizer tok = Tokenizer::from_model_dir(o.model_dir.empty() ? ctx.model_path[r.model] : o.model_dir);
    const auto base_tokens = parse_json_text(it->second->token_ids, o.db_path).get<std::vector<int32_t>>();
    const auto real_tokens = parse_json_text(r.token_ids, o.db_path).get<std::vector<int32_t>>();
    Replay rep = replay(o.controller, args, tok, base_tokens, tok.vocab_size());
    const std::string where = r.unit_key + ": ";
    ++compared;
    if (rep.stop_step != r.stop_step) {
      problems.push_back(where + "predicted stop step " + std::to_string(rep.stop_step) + ", real " + std::to_string(r.stop_step));
      continue;
    }
    const size_t n = rep.stop_step >= 0 ? static_cast<size_t>(rep.stop_step) : base_tokens.size();
    if (real_tokens.size() < n || !std::equal(base_tokens.begin(), base_tokens.begin() + static_cast<long>(std::min(n, base_tokens.size())), real_tokens.begin())) {
      problems.push_back(where + "tokens up to the stop differ");
    }
  }
  if (compared == 0) problems.push_back("no controlled rows with an uncontrolled twin to compare");
  return problems;
}

}  // namespace lil
