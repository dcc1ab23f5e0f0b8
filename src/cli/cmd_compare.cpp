// lil compare: cell-by-cell differences between two results databases; non-zero exit on regressions.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "runtime/report.h"
#include "runtime/results_db.h"

namespace lil::cli {
namespace {

struct Tolerances {
  double accuracy_points = 2.0;     // accuracy may drop by at most this many percentage points
  double output_length_rel = 0.10;  // mean output length may grow by at most this fraction
  double jct_rel = 0.25;            // mean JCT may grow by at most this fraction (timings are noisy)
};

Tolerances read_tolerances(const std::string& path) {
  Tolerances t;
  if (path.empty()) return t;
  json doc = read_json_file(path);
  if (!doc.is_object()) fail_at(path, "expected a JSON object of tolerances");
  for (const auto& [key, value] : doc.items()) {
    if (key != "accuracy_points" && key != "output_length_rel" && key != "jct_rel") {
      fail_at(path, "unknown key '" + key + "' (expected accuracy_points, output_length_rel, jct_rel)");
    }
  }
  t.accuracy_points = optional_number(doc, "accuracy_points", path).value_or(t.accuracy_points);
  t.output_length_rel = optional_number(doc, "output_length_rel", path).value_or(t.output_length_rel);
  t.jct_rel = optional_number(doc, "jct_rel", path).value_or(t.jct_rel);
  if (t.accuracy_points < 0 || t.output_length_rel < 0 || t.jct_rel < 0) fail_at(path, "tolerances must be >= 0");
  return t;
}

struct CompareCliOptions {
  std::string base, candidate, tolerance_file;
  bool json = false;
};

std::string cell_id(const CellSummary& c) {
  return c.model + " " + c.dataset + " " + c.policy + (c.policy == "full" ? "" : "@" + std::to_string(c.budget)) +
         (c.policy_args == "{}" ? "" : c.policy_args) + " " + c.controller + (c.controller_args == "{}" ? "" : c.controller_args);
}

int run_compare(const CompareCliOptions& o) {
  const Tolerances tol = read_tolerances(o.tolerance_file);
  ResultsDb base_db(o.base, false), new_db(o.candidate, false);
  auto base = summarize_cells(base_db.rows(), {});
  auto cand = summarize_cells(new_db.rows(), {});
  std::map<std::string, const CellSummary*> by_id;
  for (const auto& c : cand) by_id[cell_id(c)] = &c;
  json cells = json::array();
  int regressions = 0;
  for (const auto& b : base) {
    json entry = {{"cell", cell_id(b)}};
    auto it = by_id.find(cell_id(b));
    if (it == by_id.end()) {
      entry["status"] = "missing";
      entry["regressions"] = json::array({"cell missing from the new database"});
      ++regressions;
      cells.push_back(entry);
      continue;
    }
    const CellSummary& n = *it->second;
    const double d_acc = 100.0 * (n.accuracy - b.accuracy);
    const double d_len = b.output_tokens > 0 ? n.output_tokens / b.output_tokens - 1.0 : 0.0;
    const double d_jct = b.jct_s > 0 ? n.jct_s / b.jct_s - 1.0 : 0.0;
    json problems = json::array();
    if (-d_acc > tol.accuracy_points) problems.push_back("accuracy dropped " + std::to_string(-d_acc) + " points");
    if (d_len > tol.output_length_rel) problems.push_back("output length grew " + std::to_string(100 * d_len) + "%");
    if (d_jct > tol.jct_rel) problems.push_back("JCT grew " + std::to_string(100 * d_jct) + "%");
    entry.update({{"status", problems.empty() ? "ok" : "regressed"}, {"accuracy_change_points", d_acc},
                  {"output_length_change", d_len}, {"jct_change", d_jct}, {"regressions", problems},
                  {"base", {{"accuracy", b.accuracy}, {"output_tokens", b.output_tokens}, {"jct_s", b.jct_s}}},
                  {"new", {{"accuracy", n.accuracy}, {"output_tokens", n.output_tokens}, {"jct_s", n.jct_s}}}});
    if (!problems.empty()) ++regressions;
    cells.push_back(entry);
  }
  json summary = {{"base", o.base}, {"new", o.candidate}, {"cells", cells}, {"regressed_cells", regressions},
                  {"tolerances", {{"accuracy_points", tol.accuracy_points}, {"output_length_rel", tol.output_length_rel},
                                  {"jct_rel", tol.jct_rel}}}};
  if (o.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    for (const auto& c : cells) {
      std::cout << std::left << std::setw(10) << c["status"].get<std::string>() << c["cell"].get<std::string>();
      if (c.contains("accuracy_change_points")) {
        std::cout << std::fixed << std::setprecision(1) << "  acc " << c["accuracy_change_points"].get<double>()
                  << " pts, length " << 100 * c["output_length_change"].get<double>() << "%, JCT "
                  << 100 * c["jct_change"].get<double>() << "%";
      }
      std::cout << "\n";
      for (const auto& p : c["regressions"]) std::cout << "          - " << p.get<std::string>() << "\n";
    }
    std::cout << regressions << " regressed cell(s) of " << cells.size() << "\n";
  }
  return regressions ? 1 : 0;
}

Registrar registrar("compare", "Compare two results databases cell by cell; exit 1 on regressions past tolerances",
                    [](CLI::App& sub) {
  auto o = std::make_shared<CompareCliOptions>();
  sub.add_option("base", o->base, "Baseline results database")->required();
  sub.add_option("new", o->candidate, "New results database")->required();
  sub.add_option("--tolerance-file", o->tolerance_file,
                 "JSON {accuracy_points (2.0), output_length_rel (0.10), jct_rel (0.25)}");
  sub.add_flag("--json", o->json, "Print a JSON summary (for CI jobs)");
  return [o]() { return run_compare(*o); };
});

}  // namespace
}  // namespace lil::cli
