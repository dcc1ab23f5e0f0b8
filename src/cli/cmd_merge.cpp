// lil merge: combine result databases of one sweep config (e.g. Slurm array shards).
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "runtime/merge.h"

namespace lil::cli {
namespace {

struct MergeCliOptions {
  std::string out;
  std::vector<std::string> inputs;
};

Registrar registrar("merge", "Merge results databases of the same sweep config (rejects overlaps, reports missing units)",
                    [](CLI::App& sub) {
  auto o = std::make_shared<MergeCliOptions>();
  sub.add_option("out", o->out, "New merged database")->required();
  sub.add_option("inputs", o->inputs, "Shard databases")->required();
  return [o]() {
    std::string command = "lil merge " + o->out;
    for (const auto& i : o->inputs) command += " " + i;
    MergeSummary s = merge_results(o->out, o->inputs, command);
    std::cout << "[lil] merged " << s.rows << " rows from " << o->inputs.size() << " database(s) into " << o->out << "\n";
    for (const auto& shard : s.missing_shards) std::cout << "[lil] missing shard " << shard << "\n";
    for (const auto& unit : s.missing_units) std::cout << "[lil] missing unit " << unit << "\n";
    if (!s.missing_units.empty() || !s.missing_shards.empty()) {
      std::cout << "[lil] incomplete: rerun the failed shards (lil sweep CONFIG --shard I/N --out SHARD --resume), then merge again\n";
      return 3;
    }
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
