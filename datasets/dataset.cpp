// One JSONL loader for every kind: the kind (dataset_kinds.cpp) says which fields to read and how to
// clean them; this file reads, validates and selects.
#include "datasets/dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/data_paths.h"
#include "datasets/sample_data.h"

namespace lil {
namespace {

struct FieldNames {
  std::string question, answer, id, solution;
};

FieldNames field_names(const DatasetKind& kind, const DatasetSpec& spec) {
  auto pick = [](const std::string& override_name, const std::string& own) {
    return override_name.empty() ? own : override_name;
  };
  return {pick(spec.question_field, kind.question_field), pick(spec.answer_field, kind.answer_field),
          pick(spec.id_field, kind.id_field), pick(spec.solution_field, kind.solution_field)};
}

// AMC stores answers as floats (27.0) and AIME 2025 as integers; graders and reports want "27".
std::string number_text(const json& value) {
  if (value.is_number_integer()) return value.dump();
  const double x = value.get<double>();
  if (std::isfinite(x) && std::floor(x) == x && std::fabs(x) < 1e15) {
    return std::to_string(static_cast<long long>(x));
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.15g", x);
  return buffer;
}

std::string scalar_text(const json& record, const std::string& field, const std::string& where) {
  const json& value = require_key(record, field, where);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return number_text(value);
  fail_at(where, "field '" + field + "': expected a string or a number, got " + json_type_name(value));
}

std::string gold_after_hash(const std::string& answer, const std::string& where, const std::string& field) {
  const auto marker = answer.rfind("#### ");
  if (marker == std::string::npos) {
    fail_at(where, "field '" + field + "': expected the final answer after '#### ' (GSM8K format)");
  }
  std::string gold = answer.substr(marker + 5);
  while (!gold.empty() && std::isspace(static_cast<unsigned char>(gold.back()))) gold.pop_back();
  return gold;
}

Problem parse_record(const json& record, const DatasetKind& kind, const FieldNames& fields, size_t index,
                     const std::string& where) {
  if (!record.is_object()) fail_at(where, "expected a JSON object, got " + json_type_name(record));
  Problem problem;
  problem.index = index;
  problem.question = require_string(record, fields.question, where);
  if (!kind.question_suffix.empty() && problem.question.size() >= kind.question_suffix.size() &&
      problem.question.compare(problem.question.size() - kind.question_suffix.size(), std::string::npos,
                               kind.question_suffix) == 0) {
    problem.question.resize(problem.question.size() - kind.question_suffix.size());
  }
  if (problem.question.empty()) fail_at(where, "field '" + fields.question + "' is empty");

  const std::string answer = scalar_text(record, fields.answer, where);
  problem.gold_answer = kind.gold_after_hash ? gold_after_hash(answer, where, fields.answer) : answer;
  if (problem.gold_answer.empty()) fail_at(where, "field '" + fields.answer + "': empty answer");

  problem.id = fields.id.empty() ? std::to_string(index) : scalar_text(record, fields.id, where);
  if (!fields.solution.empty() && record.contains(fields.solution)) {
    problem.solution = require_string(record, fields.solution, where);
  }
  return problem;
}

std::vector<Problem> parse_jsonl(const std::string& text, const std::string& path, const DatasetKind& kind,
                                 const FieldNames& fields) {
  std::vector<Problem> problems;
  std::map<std::string, size_t> line_of_id;
  for_each_jsonl_record(text, path, [&](const json& record, const std::string& where, size_t line_number) {
    Problem problem = parse_record(record, kind, fields, problems.size(), where);
    const auto [it, inserted] = line_of_id.emplace(problem.id, line_number);
    if (!inserted) {
      fail_at(where, "duplicate id '" + problem.id + "' (first on line " + std::to_string(it->second) + ")");
    }
    problems.push_back(std::move(problem));
  });
  return problems;
}

}  // namespace

std::string dataset_file_path(const DatasetSpec& spec) {
  const DatasetKind& kind = find_dataset_kind(spec.name);
  if (spec.use_sample) return sample_file_path(kind.name);
  if (!spec.path.empty()) return spec.path;
  if (kind.default_path.empty()) {
    fail_at("data set '" + kind.name + "'", "has no default file; pass the JSONL file (--data FILE)");
  }
  return (std::filesystem::path(resolve_shared_dir()) / kind.default_path).string();
}

std::vector<Problem> load_dataset(const DatasetSpec& spec) {
  const DatasetKind& kind = find_dataset_kind(spec.name);
  if (spec.offset < 0) fail_at("offset", "expected a non-negative number, got " + std::to_string(spec.offset));
  if (spec.use_sample && !spec.path.empty()) {
    fail_at("data set '" + kind.name + "'", "give either a data file or the built-in sample, not both");
  }
  const FieldNames fields = field_names(kind, spec);
  if (fields.question.empty() || fields.answer.empty()) {
    fail_at("data set '" + kind.name + "'", "the question and answer field names must not be empty");
  }

  const std::string path = dataset_file_path(spec);
  std::string text;
  if (spec.use_sample) {
    const auto sample = embedded_sample_text(kind.name);
    if (!sample) fail_at("data set '" + kind.name + "'", "ships no built-in sample");
    text = *sample;
  } else {
    text = read_text_file(path);
  }

  std::vector<Problem> all = parse_jsonl(text, path, kind, fields);
  const size_t first = std::min(all.size(), static_cast<size_t>(spec.offset));
  size_t last = all.size();
  if (spec.limit >= 0) last = std::min(last, first + static_cast<size_t>(spec.limit));
  return std::vector<Problem>(std::make_move_iterator(all.begin() + first),
                              std::make_move_iterator(all.begin() + last));
}

}  // namespace lil
