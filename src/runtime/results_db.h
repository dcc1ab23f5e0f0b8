#pragma once
// The results database (SQLite): one row per (cell, problem, sample) and a run table with provenance.
// Each finished batch is written in one transaction (WAL journal), so `kill -9` loses at most the batch in
// flight and never leaves a partial row; a lock file keeps a second writer out. No torch here.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

struct sqlite3;

namespace lil {

// One generation's record. `unit_key` identifies the work unit (cell x problem x sample).
struct ResultRow {
  std::string unit_key, cell_key;
  std::string model, dataset, record_id;
  int64_t record_index = 0, sample = 0;
  std::string policy;
  int64_t budget = 0;
  std::string policy_args;       // canonical JSON object
  std::string controller;        // "none" when absent
  std::string controller_args;   // canonical JSON object
  int64_t prompt_tokens = 0, output_tokens = 0;
  std::string output_text, extracted_answer, gold_answer;
  bool correct = false;
  std::string stop_reason;       // eos | cap | controller | max_new_tokens
  int64_t stop_step = -1;
  int64_t max_new_tokens = 0;    // the limit this row ran under
  std::string cap_source;        // "max_new_tokens" | "full_multiple" | "ceiling"
  double ttft_s = 0, tbt_mean_s = 0, tbt_p50_s = 0, tbt_p99_s = 0, jct_s = 0;
  int64_t peak_memory_bytes = 0;
  int64_t kv_allocated_bytes = 0, kv_resident_bytes_peak = 0;
  double kv_resident_mean_tokens = 0, kv_attended_mean_tokens = 0, kv_attended_bytes_mean = 0;
  std::string controller_checks;  // JSON array of {step, signal, fired, seconds}
  std::string token_ids;          // JSON array of the generated ids (what-if evaluation replays them)
  std::string answer_text;        // forced-answer continuation (on_stop = force_answer), else ""
  int64_t answer_tokens = 0;
  std::string error;              // non-empty for a failed unit (e.g. out of memory); metrics then 0
};

struct RunInfo {
  int64_t run_id = 0;
  std::string config_hash, config_text, lil_version, git_commit, libtorch_version, device_name, host;
  std::string started_at, finished_at, status, command;
  std::string shard;  // "I/N" for a shard of a sweep, empty for a whole sweep
};

class ResultsDb {
 public:
  // Opens or creates `path`. A file that is not a lil results database is refused (LilError).
  // With `writer`, takes the lock file `<path>.lock` (LilError when another process holds it).
  ResultsDb(const std::string& path, bool writer);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  const std::string& path() const { return path_; }
  int64_t begin_run(const RunInfo& info);
  void finish_run(int64_t run_id, const std::string& status);
  std::vector<RunInfo> runs() const;

  // Writes rows in one transaction (all or nothing). Rows whose unit_key exists are replaced.
  void insert_batch(const std::vector<ResultRow>& rows);
  std::set<std::string> finished_units() const;
  // The work units a sweep (or shard) set out to do; `lil merge` reports the ones no shard finished.
  void plan_units(const std::vector<std::string>& unit_keys);
  std::set<std::string> planned_units() const;
  std::vector<ResultRow> rows() const;

 private:
  void exec(const std::string& sql) const;
  std::string path_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
};

std::string utc_now_iso8601();
// Stable 64-bit FNV-1a hash as 16 hex digits (config and unit identities).
std::string stable_hash(const std::string& text);

}  // namespace lil
