#include "runtime/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace lil {

namespace {

struct Accumulator {
  std::vector<double> correct, tokens, ttft, tbt, jct, decode, residency, attended;
  int64_t failed = 0, capped = 0;
  bool several_samples = false;
};

double mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double ci95(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return 1.96 * std::sqrt(ss / static_cast<double>(v.size() - 1)) / std::sqrt(static_cast<double>(v.size()));
}

std::string problem_key(const ResultRow& r) { return r.model + "|" + r.dataset + "|" + r.record_id + "|" + std::to_string(r.sample); }
std::string baseline_key(const ResultRow& r) {
  return r.model + "|" + r.dataset + "|" + r.policy + "|" + std::to_string(r.budget) + "|" + r.policy_args;
}

std::string fmt(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}
std::string pct(double ratio) { return fmt(100.0 * ratio, 1) + "%"; }
std::string signed_pct(double ratio) { return (ratio >= 0 ? "+" : "") + fmt(100.0 * ratio, 1) + "%"; }

}  // namespace

std::vector<CellSummary> summarize_cells(const std::vector<ResultRow>& rows, const ReportOptions& options) {
  // Correctness of the uncontrolled run of each (policy, budget, problem): the split the study uses.
  std::map<std::string, bool> uncontrolled_correct;
  for (const auto& r : rows) {
    if (r.controller == "none" && r.error.empty()) uncontrolled_correct[baseline_key(r) + "#" + problem_key(r)] = r.correct;
  }
  using Key = std::tuple<std::string, std::string, std::string, int64_t, std::string, std::string, std::string, std::string>;
  std::map<Key, Accumulator> groups;
  std::vector<Key> order;
  auto add = [&](const ResultRow& r, const std::string& subset) {
    Key k{r.model, r.dataset, r.policy, r.budget, r.policy_args, r.controller, r.controller_args, subset};
    auto [it, inserted] = groups.try_emplace(k);
    if (inserted) order.push_back(k);
    Accumulator& a = it->second;
    if (!r.error.empty()) {
      a.failed += 1;
      return;
    }
    a.several_samples = a.several_samples || r.sample > 0;
    a.correct.push_back(r.correct ? 1.0 : 0.0);
    a.tokens.push_back(static_cast<double>(r.output_tokens));
    a.ttft.push_back(r.ttft_s);
    a.tbt.push_back(r.tbt_mean_s);
    a.jct.push_back(r.jct_s);
    const double decode = std::max(0.0, r.jct_s - r.ttft_s);
    a.decode.push_back(decode);
    const double bytes_per_token = r.kv_attended_mean_tokens > 0 ? r.kv_attended_bytes_mean / r.kv_attended_mean_tokens : 0;
    a.residency.push_back(r.kv_resident_mean_tokens * bytes_per_token * decode / 1e6);
    a.attended.push_back(r.kv_attended_mean_tokens);
    if (r.stop_reason == "cap" || r.stop_reason == "max_new_tokens") a.capped += 1;
  };
  for (const auto& r : rows) {
    add(r, "all");
    if (options.split_by_correctness) {
      auto it = uncontrolled_correct.find(baseline_key(r) + "#" + problem_key(r));
      if (it != uncontrolled_correct.end()) add(r, it->second ? "correct" : "incorrect");
    }
  }
  std::vector<CellSummary> out;
  std::map<std::string, const CellSummary*> full_by_dataset;   // model|dataset|subset
  std::map<std::string, size_t> uncontrolled_index;            // baseline|subset
  for (const Key& k : order) {
    const Accumulator& a = groups.at(k);
    CellSummary c;
    std::tie(c.model, c.dataset, c.policy, c.budget, c.policy_args, c.controller, c.controller_args, c.subset) = k;
    c.n = static_cast<int64_t>(a.correct.size());
    c.failed = a.failed;
    c.several_samples = a.several_samples;
    c.accuracy = mean(a.correct);
    c.accuracy_ci95 = a.several_samples ? ci95(a.correct) : 0;
    c.output_tokens = mean(a.tokens);
    c.output_tokens_ci95 = a.several_samples ? ci95(a.tokens) : 0;
    c.ttft_s = mean(a.ttft);
    c.tbt_s = mean(a.tbt);
    c.jct_s = mean(a.jct);
    c.decode_s = mean(a.decode);
    c.kv_residency_mb_s = mean(a.residency);
    c.kv_attended_tokens = mean(a.attended);
    c.cap_hit_rate = c.n ? static_cast<double>(a.capped) / static_cast<double>(c.n) : 0;
    out.push_back(c);
  }
  // Table order: full attention first, then policies by name and budget (largest first), no controller first.
  std::stable_sort(out.begin(), out.end(), [](const CellSummary& a, const CellSummary& b) {
    auto rank = [](const CellSummary& c) {
      return std::make_tuple(c.model, c.dataset, c.subset != "all", c.subset, c.policy != "full", c.policy, -c.budget,
                             c.policy_args, c.controller != "none", c.controller, c.controller_args);
    };
    return rank(a) < rank(b);
  });
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& c = out[i];
    if (c.policy == "full" && c.controller == "none") full_by_dataset[c.model + "|" + c.dataset + "|" + c.subset] = &out[i];
    if (c.controller == "none") {
      uncontrolled_index[c.model + "|" + c.dataset + "|" + c.policy + "|" + std::to_string(c.budget) + "|" + c.policy_args +
                         "|" + c.subset] = i;
    }
  }
  for (auto& c : out) {
    auto f = full_by_dataset.find(c.model + "|" + c.dataset + "|" + c.subset);
    if (f != full_by_dataset.end() && f->second->output_tokens > 0) c.length_vs_full = c.output_tokens / f->second->output_tokens;
    if (f != full_by_dataset.end() && f->second->jct_s > 0) c.jct_vs_full = c.jct_s / f->second->jct_s;
    if (c.controller != "none") {
      auto b = uncontrolled_index.find(c.model + "|" + c.dataset + "|" + c.policy + "|" + std::to_string(c.budget) + "|" +
                                       c.policy_args + "|" + c.subset);
      if (b != uncontrolled_index.end()) {
        const CellSummary& base = out[b->second];
        c.has_baseline = true;
        c.token_savings = base.output_tokens > 0 ? 1.0 - c.output_tokens / base.output_tokens : 0;
        c.accuracy_change_points = 100.0 * (c.accuracy - base.accuracy);
        c.jct_change = base.jct_s > 0 ? c.jct_s / base.jct_s - 1.0 : 0;
      }
    }
  }
  return out;
}

namespace {
std::vector<std::string> header() {
  return {"policy", "budget", "controller", "subset", "n", "accuracy", "output tokens", "length vs full", "TTFT ms",
          "TBT ms", "JCT s", "JCT vs full", "KV MB*s", "capped", "tokens saved", "acc change", "JCT change"};
}
std::vector<std::string> cells_of(const CellSummary& c) {
  const bool ctl = c.controller != "none" && c.has_baseline;
  std::string acc = pct(c.accuracy) + (c.several_samples ? " ± " + fmt(100 * c.accuracy_ci95, 1) : "");
  std::string len = fmt(c.output_tokens, 1) + (c.several_samples ? " ± " + fmt(c.output_tokens_ci95, 1) : "");
  return {c.policy,
          c.policy == "full" ? "-" : std::to_string(c.budget),
          c.controller,
          c.subset,
          std::to_string(c.n) + (c.failed ? " (+" + std::to_string(c.failed) + " failed)" : ""),
          acc,
          len,
          c.length_vs_full > 0 ? fmt(c.length_vs_full, 2) + "x" : "-",
          fmt(c.ttft_s * 1e3, 1),
          fmt(c.tbt_s * 1e3, 2),
          fmt(c.jct_s, 3),
          c.jct_vs_full > 0 ? fmt(c.jct_vs_full, 2) + "x" : "-",
          fmt(c.kv_residency_mb_s, 3),
          pct(c.cap_hit_rate),
          ctl ? pct(c.token_savings) : "-",
          ctl ? (c.accuracy_change_points >= 0 ? "+" : "") + fmt(c.accuracy_change_points, 1) + " pts" : "-",
          ctl ? signed_pct(c.jct_change) : "-"};
}
template <typename Emit>
void per_table(const std::vector<CellSummary>& cells, Emit emit) {
  std::vector<std::string> seen;
  for (const auto& c : cells) {
    const std::string key = c.model + " / " + c.dataset;
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    std::vector<const CellSummary*> rows;
    for (const auto& d : cells) {
      if (d.model + " / " + d.dataset == key) rows.push_back(&d);
    }
    emit(key, rows);
  }
}
std::string latex_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '&' || ch == '#' || ch == '$') out += '\\';
    out += ch;
  }
  return out;
}
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}
}  // namespace

std::string report_markdown(const std::vector<CellSummary>& cells) {
  std::ostringstream out;
  per_table(cells, [&](const std::string& title, const std::vector<const CellSummary*>& rows) {
    out << "### " << title << "\n\n|";
    for (const auto& h : header()) out << " " << h << " |";
    out << "\n|";
    for (size_t i = 0; i < header().size(); ++i) out << " --- |";
    out << "\n";
    for (const auto* c : rows) {
      out << "|";
      for (const auto& v : cells_of(*c)) out << " " << v << " |";
      out << "\n";
    }
    out << "\n";
  });
  return out.str();
}

std::string report_latex(const std::vector<CellSummary>& cells) {
  std::ostringstream out;
  per_table(cells, [&](const std::string& title, const std::vector<const CellSummary*>& rows) {
    out << "\\begin{table}[t]\n\\centering\\small\n\\caption{" << latex_escape(title) << "}\n\\begin{tabular}{";
    for (size_t i = 0; i < header().size(); ++i) out << (i < 4 ? "l" : "r");
    out << "}\n\\toprule\n";
    for (size_t i = 0; i < header().size(); ++i) out << (i ? " & " : "") << latex_escape(header()[i]);
    out << " \\\\\n\\midrule\n";
    for (const auto* c : rows) {
      auto v = cells_of(*c);
      for (size_t i = 0; i < v.size(); ++i) out << (i ? " & " : "") << latex_escape(v[i]);
      out << " \\\\\n";
    }
    out << "\\bottomrule\n\\end{tabular}\n\\end{table}\n\n";
  });
  return out.str();
}

std::string report_csv(const std::vector<CellSummary>& cells) {
  std::ostringstream out;
  out << "model,dataset,policy,budget,controller,subset,n,failed,accuracy,accuracy_ci95,output_tokens,output_tokens_ci95,"
         "length_vs_full,ttft_s,tbt_s,jct_s,jct_vs_full,kv_residency_mb_s,cap_hit_rate,token_savings,"
         "accuracy_change_points,jct_change\n";
  for (const auto& c : cells) {
    out << csv_field(c.model) << "," << csv_field(c.dataset) << "," << c.policy << "," << c.budget << "," << c.controller
        << "," << c.subset << "," << c.n << "," << c.failed << "," << c.accuracy << "," << c.accuracy_ci95 << ","
        << c.output_tokens << "," << c.output_tokens_ci95 << "," << c.length_vs_full << "," << c.ttft_s << "," << c.tbt_s
        << "," << c.jct_s << "," << c.jct_vs_full << "," << c.kv_residency_mb_s << "," << c.cap_hit_rate << ","
        << (c.has_baseline ? std::to_string(c.token_savings) : "") << ","
        << (c.has_baseline ? std::to_string(c.accuracy_change_points) : "") << ","
        << (c.has_baseline ? std::to_string(c.jct_change) : "") << "\n";
  }
  return out.str();
}

nlohmann::json report_json(const std::vector<CellSummary>& cells) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& c : cells) {
    nlohmann::json j = {{"model", c.model}, {"dataset", c.dataset}, {"policy", c.policy}, {"budget", c.budget},
                        {"policy_args", nlohmann::json::parse(c.policy_args.empty() ? "{}" : c.policy_args)},
                        {"controller", c.controller},
                        {"controller_args", nlohmann::json::parse(c.controller_args.empty() ? "{}" : c.controller_args)},
                        {"subset", c.subset}, {"n", c.n}, {"failed", c.failed}, {"accuracy", c.accuracy},
                        {"accuracy_ci95", c.accuracy_ci95}, {"output_tokens", c.output_tokens},
                        {"output_tokens_ci95", c.output_tokens_ci95}, {"length_vs_full", c.length_vs_full},
                        {"ttft_s", c.ttft_s}, {"tbt_s", c.tbt_s}, {"jct_s", c.jct_s}, {"decode_s", c.decode_s},
                        {"jct_vs_full", c.jct_vs_full}, {"kv_residency_mb_s", c.kv_residency_mb_s},
                        {"kv_attended_tokens", c.kv_attended_tokens}, {"cap_hit_rate", c.cap_hit_rate}};
    if (c.has_baseline) {
      j["token_savings"] = c.token_savings;
      j["accuracy_change_points"] = c.accuracy_change_points;
      j["jct_change"] = c.jct_change;
    }
    arr.push_back(j);
  }
  return {{"cells", arr}};
}

}  // namespace lil
