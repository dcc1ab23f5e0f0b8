// lil dataset list | show | synth: the benchmark kinds lil knows, the records a selection yields (what a
// sweep will feed the model and grade against), and the synthetic task's problems written as JSONL.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "datasets/dataset.h"
#include "datasets/synthetic_varchain.h"

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

struct SynthOptions {
  std::string split = "test";
  uint64_t n = 500;
  uint64_t seed = 0;
  uint64_t first = 0;
  std::string out;
  std::string knobs_json = "{}";
};

int synth(const SynthOptions& o) {
  const SynthSplit split = parse_synth_split(o.split, "--split");
  const VarchainOptions options = parse_varchain_options(parse_json_text(o.knobs_json, "--knobs"), "--knobs");
  std::string text;
  for (const auto& problem : make_varchain_problems(options, split, o.seed, o.first, o.n)) {
    text += varchain_jsonl_line(problem) + "\n";
  }
  if (o.out.empty() || o.out == "-") {
    std::cout << text;
  } else {
    write_text_file_atomic(o.out, text);
    std::cerr << o.n << " " << o.split << " problems (seed " << o.seed << ") written to " << o.out << "\n";
  }
  return 0;
}

Registrar registrar("dataset", "List benchmark kinds, show the records of a data set, or write synthetic problems", [](CLI::App& sub) {
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

  CLI::App* synth_command = sub.add_subcommand(
      "synth", "Write problems of the synthetic varchain task (datasets/SYNTHETIC.md) as JSONL (kind jsonl)");
  auto s = std::make_shared<SynthOptions>();
  synth_command->add_option("--split", s->split, "train | test (disjoint by a hash of the question)")->capture_default_str();
  synth_command->add_option("--n", s->n, "Number of problems")->capture_default_str();
  synth_command->add_option("--seed", s->seed, "Seed of the problem stream")->capture_default_str();
  synth_command->add_option("--first", s->first, "Index of the first problem in the stream")->capture_default_str();
  synth_command->add_option("--out", s->out, "Output JSONL file (default: standard output)");
  synth_command->add_option("--knobs", s->knobs_json,
                            "Difficulty knobs as JSON, e.g. '{\"min_vars\":12,\"max_vars\":20,\"fan_in\":2}' "
                            "(also constant_prob, variable_operand_prob, max_lookback, modulus, alphabetical_names)")
      ->capture_default_str();
  return [list, synth_command, o, s]() {
    if (synth_command->parsed()) return synth(*s);
    return list->parsed() ? list_kinds() : show(*o);
  };
});

}  // namespace
}  // namespace lil::cli
