// lil grade: grade another engine's (or lil's) outputs with lil's extraction and equivalence rules, so
// accuracy figures from different engines are comparable.
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"

namespace lil::cli {
namespace {

struct GradeCommandOptions {
  DatasetSpec spec;
  std::string predictions_path;
  bool json = false;
  bool strict = false;
};

// index (0-based position in the selection) -> output. LilError "<file>:<line>: ..." on any bad line.
std::map<size_t, std::string> read_predictions(const std::string& path, size_t selected) {
  const std::string text = read_text_file(path);
  std::map<size_t, std::string> outputs;
  std::map<size_t, size_t> line_of_index;
  for_each_jsonl_record(text, path, [&](const json& record, const std::string& where, size_t line_number) {
    if (!record.is_object()) fail_at(where, "expected a JSON object {\"index\": i, \"output\": \"...\"}");
    const int64_t index = require_int(record, "index", where);
    const std::string output = require_string(record, "output", where);
    if (index < 0 || static_cast<size_t>(index) >= selected) {
      fail_at(where, "index " + std::to_string(index) + " is outside the " + std::to_string(selected) +
                         " selected records (index counts from 0 after --offset)");
    }
    const auto [it, inserted] = line_of_index.emplace(static_cast<size_t>(index), line_number);
    if (!inserted) {
      fail_at(where, "duplicate index " + std::to_string(index) + " (first on line " + std::to_string(it->second) + ")");
    }
    outputs[static_cast<size_t>(index)] = output;
  });
  return outputs;
}

int run_grade(const GradeCommandOptions& options) {
  const DatasetKind& kind = find_dataset_kind(options.spec.name);
  const auto problems = load_dataset(options.spec);
  const auto outputs = read_predictions(options.predictions_path, problems.size());

  json records = json::array();
  size_t correct = 0;
  for (const auto& [index, output] : outputs) {
    const Problem& problem = problems[index];
    const Verdict verdict = grade(kind, output, problem.gold_answer, options.strict);
    correct += verdict.correct ? 1 : 0;
    records.push_back({{"index", index},
                       {"id", problem.id},
                       {"gold", problem.gold_answer},
                       {"extracted", verdict.extracted ? json(*verdict.extracted) : json(nullptr)},
                       {"correct", verdict.correct},
                       {"method", verdict.method},
                       {"source", extraction_source_name(verdict.source)}});
  }
  const size_t graded = outputs.size();
  const size_t missing = problems.size() - graded;
  const double accuracy = graded == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(graded);

  if (options.json) {
    std::cout << json{{"dataset", kind.name}, {"strict", options.strict}, {"accuracy", accuracy},
                      {"correct", correct},   {"graded", graded},         {"missing", missing},
                      {"records", records}}
                     .dump(2)
              << "\n";
    return 0;
  }
  for (const auto& r : records) {
    std::cout << "[" << r["index"].get<size_t>() << "] " << (r["correct"].get<bool>() ? "correct  " : "WRONG    ")
              << "extracted: " << (r["extracted"].is_null() ? "<none>" : r["extracted"].get<std::string>())
              << "  gold: " << r["gold"].get<std::string>() << "  (" << r["method"].get<std::string>() << ", id "
              << r["id"].get<std::string>() << ")\n";
  }
  std::cout << "accuracy: " << std::fixed << std::setprecision(4) << accuracy << " (" << correct << "/" << graded
            << " graded";
  if (missing > 0) std::cout << "; " << missing << " selected records have no prediction";
  std::cout << ")\n";
  return 0;
}

Registrar registrar("grade", "Grade model outputs (JSONL {\"index\": i, \"output\": \"...\"}) against a data set",
                    [](CLI::App& sub) {
  auto o = std::make_shared<GradeCommandOptions>();
  sub.add_option("--dataset", o->spec.name, "Data set kind (see `lil dataset list`)")->required();
  sub.add_option("--data", o->spec.path, "JSONL file (default: the kind's file in the shared dir)");
  sub.add_option("--limit", o->spec.limit, "First N records after --offset (negative: all)");
  sub.add_option("--offset", o->spec.offset, "Records to skip from the start")->capture_default_str();
  sub.add_flag("--sample", o->spec.use_sample, "Use the small built-in sample (datasets/samples/)");
  sub.add_option("--question-field", o->spec.question_field, "Field holding the question (jsonl kind)");
  sub.add_option("--answer-field", o->spec.answer_field, "Field holding the gold answer (jsonl kind)");
  sub.add_option("--id-field", o->spec.id_field, "Field holding the id (default: record index)");
  sub.add_option("--predictions", o->predictions_path,
                 "JSONL: {\"index\": i, \"output\": \"...\"}, i = 0-based position after --offset")
      ->required();
  sub.add_flag("--json", o->json, "Print {\"accuracy\": .., \"records\": [...]} instead of a table");
  sub.add_flag("--strict", o->strict, "No last-number fallback: only \\boxed{}, ####, 'the answer is'");
  return [o]() { return run_grade(*o); };
});

}  // namespace
}  // namespace lil::cli
