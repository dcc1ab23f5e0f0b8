#pragma once
// `lil sweep`: runs a sweep config into a results database, batch by batch, resumable.
#include <cstdint>
#include <optional>
#include <string>

#include "runtime/sweep_config.h"

namespace lil {

struct ShardSpec {
  int64_t index = 0;  // 0-based
  int64_t count = 1;
};

struct SweepRunOptions {
  std::string config_path;
  std::string out_path;     // results database
  bool resume = false;      // require an existing database of the same config
  bool dry_run = false;
  bool quiet = false;
  std::optional<ShardSpec> shard;
  std::string command_line; // recorded in the run table
};

// Returns the process exit code: 0 done, 130 interrupted (SIGINT; resumable). LilError for bad input.
int run_sweep(const SweepRunOptions& options);

// The names a sweep config may use: registered policies, controllers, data-set kinds, prompt templates.
SweepVocabulary sweep_vocabulary();

}  // namespace lil
