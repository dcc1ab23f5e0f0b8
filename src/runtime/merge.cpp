#include "runtime/merge.h"

#include <map>
#include <set>

#include <unistd.h>

#include "core/error.h"
#include "runtime/results_db.h"

namespace lil {

MergeSummary merge_results(const std::string& out_path, const std::vector<std::string>& inputs,
                           const std::string& command_line) {
  if (inputs.empty()) fail_at("lil merge", "give at least one input database");
  if (::access(out_path.c_str(), F_OK) == 0) fail_at(out_path, "already exists; merge writes a new database");
  std::string config_hash, config_text;
  std::map<std::string, std::string> owner;  // unit_key -> input that holds it
  std::vector<ResultRow> all_rows;
  std::set<std::string> planned;
  std::set<std::string> shards_seen;
  int64_t shard_count = 0;
  RunInfo first_run;
  for (const auto& input : inputs) {
    if (input == out_path) fail_at(input, "is both an input and the output");
    ResultsDb db(input, /*writer=*/false);
    const auto runs = db.runs();
    if (runs.empty()) fail_at(input, "has no sweep run recorded");
    for (const auto& run : runs) {
      if (config_hash.empty()) {
        config_hash = run.config_hash;
        config_text = run.config_text;
        first_run = run;
      } else if (run.config_hash != config_hash) {
        fail_at(input, "comes from another sweep config (hash " + run.config_hash + ", expected " + config_hash + ")");
      }
      if (!run.shard.empty()) {
        const int64_t count = std::stoll(run.shard.substr(run.shard.find('/') + 1));
        if (shard_count != 0 && count != shard_count) {
          fail_at(input, "is shard " + run.shard + " of another partition (the other inputs are shards of " +
                             std::to_string(shard_count) + "); merge the shards of one --shard I/N run");
        }
        shards_seen.insert(run.shard);
        shard_count = count;
      }
    }
    for (auto& row : db.rows()) {
      auto [it, inserted] = owner.emplace(row.unit_key, input);
      if (!inserted) fail_at(input, "overlaps " + it->second + ": both hold unit '" + row.unit_key + "'");
      all_rows.push_back(std::move(row));
    }
    for (const auto& key : db.planned_units()) planned.insert(key);
  }
  MergeSummary summary;
  for (int64_t i = 0; i < shard_count; ++i) {
    const std::string s = std::to_string(i) + "/" + std::to_string(shard_count);
    if (!shards_seen.count(s)) summary.missing_shards.push_back(s);
  }
  for (const auto& key : planned) {
    auto it = owner.find(key);
    if (it == owner.end()) summary.missing_units.push_back(key);
  }
  for (const auto& row : all_rows) {
    if (!row.error.empty()) summary.missing_units.push_back(row.unit_key + " (failed: " + row.error.substr(0, 80) + ")");
  }
  ResultsDb out(out_path, /*writer=*/true);
  RunInfo info = first_run;
  info.command = command_line;
  info.shard = "";
  const int64_t run_id = out.begin_run(info);
  out.plan_units(std::vector<std::string>(planned.begin(), planned.end()));
  out.insert_batch(all_rows);
  out.finish_run(run_id, summary.missing_units.empty() && summary.missing_shards.empty() ? "merged" : "merged_incomplete");
  summary.rows = all_rows.size();
  summary.planned = planned.size();
  return summary;
}

}  // namespace lil
