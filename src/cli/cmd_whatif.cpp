// lil whatif: what a stop controller would have done on outputs generated without one.
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "runtime/whatif.h"

namespace lil::cli {
namespace {

struct WhatIfCliOptions {
  WhatIfOptions whatif;
  std::vector<std::string> grid;
  std::vector<std::string> args;
  bool json = false;
  bool verify = false;
  std::string csv;
};

Registrar registrar("whatif", "Replay a stop controller over uncontrolled outputs for a grid of settings (Pareto view)",
                    [](CLI::App& sub) {
  auto o = std::make_shared<WhatIfCliOptions>();
  sub.add_option("db", o->whatif.db_path, "Results database with rows generated without a controller")->required();
  sub.add_option("--controller", o->whatif.controller, "Controller to replay (see lil sweep configs)")->required();
  sub.add_option("--grid", o->grid, "knob=v1,v2,... (repeat per knob), e.g. --grid f=100,250,500 t=10,20,40");
  sub.add_option("--controller-arg", o->args, "Knob held fixed, key=value (repeatable)");
  sub.add_option("--model-dir", o->whatif.model_dir, "Tokenizer folder (default: the sweep config's model path)");
  sub.add_option("--csv", o->csv, "Also write the per-setting summary as CSV (for plots)");
  sub.add_flag("--json", o->json, "Print the summary as JSON");
  sub.add_flag("--verify", o->verify,
               "Check predictions against the database's real controlled rows (same stop step and tokens); exit 1 on a mismatch");
  return [o]() {
    for (const auto& [k, v] : parse_key_values(o->args, "--controller-arg")) o->whatif.fixed_args[k] = v;
    for (const auto& [k, values] : parse_key_values(o->grid, "--grid")) {
      std::vector<std::string> list;
      size_t start = 0;
      while (start <= values.size()) {
        const size_t comma = values.find(',', start);
        const std::string item = values.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty()) fail_at("--grid " + k, "empty value in '" + values + "'");
        list.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      o->whatif.grid[k] = list;
    }
    if (o->verify) {
      auto problems = verify_whatif(o->whatif);
      for (const auto& p : problems) std::cout << "MISMATCH " << p << "\n";
      std::cout << (problems.empty() ? "what-if predictions equal the real controlled runs\n" : "");
      return problems.empty() ? 0 : 1;
    }
    WhatIfResult r = run_whatif(o->whatif);
    if (!o->csv.empty()) {
      std::string text = "model,dataset,policy,budget,setting,n,stopped_share,token_savings,accuracy_before,accuracy_after,accuracy_change_points,jct_change\n";
      for (const auto& c : r.summary["cells"]) {
        std::string setting;
        for (const auto& [k, v] : c["setting"].items()) setting += (setting.empty() ? "" : " ") + k + "=" + v.get<std::string>();
        text += c["model"].get<std::string>() + "," + c["dataset"].get<std::string>() + "," + c["policy"].get<std::string>() +
                "," + std::to_string(c["budget"].get<int64_t>()) + "," + setting + "," + std::to_string(c["n"].get<int>()) +
                "," + std::to_string(c["stopped_share"].get<double>()) + "," + std::to_string(c["token_savings"].get<double>()) +
                "," + std::to_string(c["accuracy_before"].get<double>()) + "," + std::to_string(c["accuracy_after"].get<double>()) +
                "," + std::to_string(c["accuracy_change_points"].get<double>()) + "," + std::to_string(c["jct_change"].get<double>()) + "\n";
      }
      write_text_file_atomic(o->csv, text);
    }
    std::cout << (o->json ? r.summary.dump(2) + "\n" : whatif_markdown(r));
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
