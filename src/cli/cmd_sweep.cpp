// lil sweep: run a sweep config into a results database (resumable, batch-atomic).
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "runtime/sweep.h"

namespace lil::cli {
namespace {

struct SweepCliOptions {
  SweepRunOptions run;
  std::string shard;
};

// A whole decimal number, or a LilError naming where it came from.
long long parse_count(const std::string& text, const std::string& where) {
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  fail_at(where, "expected a whole number, got '" + text + "'");
}

ShardSpec parse_shard(const std::string& text) {
  if (text == "auto") {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) fail_at("--shard auto", "needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT in the environment");
    // Arrays need not start at 0 (--array=4-7): the shard is the task's place in the array.
    const char* min_id = std::getenv("SLURM_ARRAY_TASK_MIN");
    const long long offset = min_id ? parse_count(min_id, "SLURM_ARRAY_TASK_MIN") : 0;
    return ShardSpec{parse_count(id, "SLURM_ARRAY_TASK_ID") - offset, parse_count(count, "SLURM_ARRAY_TASK_COUNT")};
  }
  const auto slash = text.find('/');
  if (slash == std::string::npos) fail_at("--shard", "expected I/N (e.g. 0/4) or auto, got '" + text + "'");
  const std::string where = "--shard " + text;
  return ShardSpec{parse_count(text.substr(0, slash), where), parse_count(text.substr(slash + 1), where)};
}

Registrar registrar("sweep", "Run a sweep config (models x data sets x policies/budgets x controllers) into a results database",
                    [](CLI::App& sub) {
  auto o = std::make_shared<SweepCliOptions>();
  sub.add_option("config", o->run.config_path, "Sweep config (JSON); see configs/")->required();
  sub.add_option("--out", o->run.out_path, "Results database (SQLite), e.g. results/NAME.sqlite");
  sub.add_flag("--resume", o->run.resume, "Continue an interrupted sweep (same config, same database)");
  sub.add_flag("--dry-run", o->run.dry_run, "Print the grid, the number of generations and a token estimate");
  sub.add_flag("--quiet", o->run.quiet, "No progress output (CI)");
  sub.add_option("--shard", o->shard, "Run only shard I of N (I/N), or 'auto' from SLURM_ARRAY_TASK_ID/COUNT");
  return [o]() {
    if (!o->shard.empty()) o->run.shard = parse_shard(o->shard);
    if (o->run.out_path.empty() && !o->run.dry_run) fail_at("--out", "a results database path is required");
    o->run.command_line = "lil sweep " + o->run.config_path + (o->run.out_path.empty() ? "" : " --out " + o->run.out_path);
    return run_sweep(o->run);
  };
});

}  // namespace
}  // namespace lil::cli
