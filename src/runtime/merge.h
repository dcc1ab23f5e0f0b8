#pragma once
// `lil merge OUT SHARD...`: combines results databases of one sweep config (e.g. the shards of a Slurm
// job array) into one. Refuses shards of different configs and units that appear in two shards; reports
// units that some shard planned but no shard finished. No torch here.
#include <string>
#include <vector>

namespace lil {

struct MergeSummary {
  size_t rows = 0;
  size_t planned = 0;
  std::vector<std::string> missing_units;  // planned, not finished by any shard
  std::vector<std::string> missing_shards; // "I/N" shard indices none of the inputs holds
};

MergeSummary merge_results(const std::string& out_path, const std::vector<std::string>& inputs,
                           const std::string& command_line);

}  // namespace lil
