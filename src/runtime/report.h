#pragma once
// `lil report`: the study's tables from a results database, per model x data set: for each policy, budget
// and controller, accuracy, output length (and relative to full attention), TBT, JCT (and relative to
// full), KV residency; with a controller, its token savings, accuracy change and JCT change against the
// same policy and budget without one. No torch here.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/results_db.h"

namespace lil {

struct CellSummary {
  std::string model, dataset, policy, controller, policy_args, controller_args;
  int64_t budget = 0;
  std::string subset = "all";  // all | correct | incorrect (by the uncontrolled run of the same problem)
  int64_t n = 0, failed = 0;
  bool several_samples = false;
  double accuracy = 0, accuracy_ci95 = 0;
  double output_tokens = 0, output_tokens_ci95 = 0;
  double length_vs_full = 0;         // output_tokens / full's (0 when unknown)
  double ttft_s = 0, tbt_s = 0, jct_s = 0, decode_s = 0;
  double jct_vs_full = 0;
  double kv_residency_mb_s = 0;      // mean resident KV bytes x decode time, in MB*s
  double kv_attended_tokens = 0;
  double cap_hit_rate = 0;           // share of rows stopped by the length cap or max_new_tokens
  // With a controller (against the same policy/budget without one):
  bool has_baseline = false;
  double token_savings = 0;          // 1 - tokens / baseline tokens
  double accuracy_change_points = 0;
  double jct_change = 0;             // jct / baseline jct - 1
};

struct ReportOptions {
  bool split_by_correctness = false;
};

std::vector<CellSummary> summarize_cells(const std::vector<ResultRow>& rows, const ReportOptions& options);

std::string report_markdown(const std::vector<CellSummary>& cells);
std::string report_latex(const std::vector<CellSummary>& cells);
std::string report_csv(const std::vector<CellSummary>& cells);
nlohmann::json report_json(const std::vector<CellSummary>& cells);

}  // namespace lil
