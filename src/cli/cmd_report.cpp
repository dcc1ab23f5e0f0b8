// lil report: paper-style tables (and plots) from a results database.
#include <cstdlib>

#include <unistd.h>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "datasets/data_paths.h"
#include "runtime/report.h"
#include "runtime/results_db.h"

namespace lil::cli {
namespace {

struct ReportCliOptions {
  std::string db;
  std::string format = "md";
  std::string out_dir;
  std::string plots_dir;
  bool split = false;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_report(const ReportCliOptions& o) {
  ResultsDb db(o.db, /*writer=*/false);
  const auto rows = db.rows();
  if (rows.empty()) fail_at(o.db, "the results database has no rows yet");
  ReportOptions options;
  options.split_by_correctness = o.split;
  const auto cells = summarize_cells(rows, options);
  auto render = [&](const std::string& format) -> std::string {
    if (format == "md") return report_markdown(cells);
    if (format == "latex") return report_latex(cells);
    if (format == "csv") return report_csv(cells);
    if (format == "json") return report_json(cells).dump(2) + "\n";
    fail_at("--format", "expected md, latex, csv or json, got '" + format + "'");
  };
  if (o.out_dir.empty()) {
    std::cout << render(o.format);
  } else {
    if (std::system(("mkdir -p " + shell_quote(o.out_dir)).c_str()) != 0) fail_at(o.out_dir, "cannot create directory");
    const std::map<std::string, std::string> extension = {{"md", "md"}, {"latex", "tex"}, {"csv", "csv"}, {"json", "json"}};
    for (const auto& [format, ext] : extension) write_text_file_atomic(o.out_dir + "/report." + ext, render(format));
    std::cout << render(o.format);
    std::cerr << "[lil] wrote report.{md,tex,csv,json} to " << o.out_dir << "\n";
  }
  if (!o.plots_dir.empty()) {
    auto repo = find_repo_dir();
    if (!repo) fail_at("--plots", "cannot find scripts/plot.py (set LIL_REPO_DIR to the lil checkout)");
    // Debian's python3-matplotlib belongs to the system interpreter, which a pyenv/venv `python3` may shadow.
    const std::string python = ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    const std::string cmd = python + " " + shell_quote(*repo + "/scripts/plot.py") + " " + shell_quote(o.db) + " " +
                            shell_quote(o.plots_dir);
    const int rc = std::system(cmd.c_str());
    if (rc != 0) fail_at("--plots", "scripts/plot.py failed (exit " + std::to_string(rc) + "); is python3-matplotlib installed?");
  }
  return 0;
}

Registrar registrar("report", "Paper-style tables (md, latex, csv, json) and plots from a results database",
                    [](CLI::App& sub) {
  auto o = std::make_shared<ReportCliOptions>();
  sub.add_option("db", o->db, "Results database written by lil sweep")->required();
  sub.add_option("--format", o->format, "md | latex | csv | json (printed)")->capture_default_str();
  sub.add_option("--out", o->out_dir, "Also write report.md/.tex/.csv/.json into this folder");
  sub.add_option("--plots", o->plots_dir, "Write PNG and PDF plots into this folder (scripts/plot.py, matplotlib)");
  sub.add_flag("--split", o->split, "Also report problems the uncontrolled run got right / wrong separately");
  return [o]() { return run_report(*o); };
});

}  // namespace
}  // namespace lil::cli
