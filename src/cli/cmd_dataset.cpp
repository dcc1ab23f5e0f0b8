// lil dataset list | show: the benchmark kinds lil knows, and the records a selection yields (what a
// sweep will feed the model and grade against).
#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "datasets/dataset.h"

namespace lil::cli {
namespace {

struct ShowOptions {
  DatasetSpec spec;
  bool json = false;
};

int list_kinds() {
  for (const auto& kind : list_dataset_kinds()) {
    std::cout << std::left << std::setw(9) << kind.name << " grading=" << std::setw(8)
              << grading_mode_name(kind.grading) << " "
              << (kind.default_path.empty() ? "(--data FILE)" : "shared/" + kind.default_path) << "\n"
              << std::setw(9) << "" << " " << kind.description << "\n";
  }
  return 0;
}

int show(const ShowOptions& options) {
  const auto problems = load_dataset(options.spec);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Problem& p = problems[i];
    if (options.json) {
      std::cout << nlohmann::json{{"index", p.index}, {"id", p.id}, {"question", p.question},
                                  {"gold_answer", p.gold_answer}}
                       .dump()
                << "\n";
      continue;
    }
    std::cout << "=== [" << p.index << "] id: " << p.id << "\n"
              << p.question << "\n"
              << "--- gold answer: " << p.gold_answer << "\n";
  }
  if (!options.json) {
    std::cerr << problems.size() << " records from " << dataset_file_path(options.spec) << "\n";
  }
  return 0;
}

Registrar registrar("dataset", "List benchmark kinds, or show the records of a data set", [](CLI::App& sub) {
  sub.require_subcommand(1, 1);
  CLI::App* list = sub.add_subcommand("list", "List the data set kinds with their default files and grading");
  CLI::App* show_command = sub.add_subcommand("show", "Print records: index, id, question, gold answer");
  auto o = std::make_shared<ShowOptions>();
  show_command->add_option("name", o->spec.name, "Data set kind (see `lil dataset list`)")->required();
  show_command->add_option("--data", o->spec.path, "JSONL file (default: the kind's file in the shared dir)");
  show_command->add_option("--limit", o->spec.limit, "First N records after --offset (negative: all)");
  show_command->add_option("--offset", o->spec.offset, "Records to skip from the start")->capture_default_str();
  show_command->add_flag("--sample", o->spec.use_sample, "Use the small built-in sample (datasets/samples/)");
  show_command->add_option("--question-field", o->spec.question_field, "Field holding the question (jsonl kind)");
  show_command->add_option("--answer-field", o->spec.answer_field, "Field holding the gold answer (jsonl kind)");
  show_command->add_option("--id-field", o->spec.id_field, "Field holding the id (default: record index)");
  show_command->add_flag("--json", o->json, "One JSON object per record: index, id, question, gold_answer");
  return [list, o]() { return list->parsed() ? list_kinds() : show(*o); };
});

}  // namespace
}  // namespace lil::cli
