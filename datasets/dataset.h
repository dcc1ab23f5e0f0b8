#pragma once
// Reasoning benchmarks as a list of problems: a registry of data set kinds (GSM8K, MATH-500, AIME 2024,
// AIME 2025, AMC 2023, generic JSONL), each owning its file layout, id rule, prompt clean-up and grading
// mode, and one JSONL loader driven by that description. Adding a benchmark = one entry in
// datasets/dataset_kinds.cpp (and, if its answers need it, a grading mode).
#include <cstdint>
#include <string>
#include <vector>

namespace lil {

struct Problem {
  std::string id;           // the file's own id field, else the 0-based record index as text
  size_t index = 0;         // 0-based position of the record in the file (before offset/limit)
  std::string question;     // bare problem statement: no instruction, no chat formatting
  std::string gold_answer;  // final answer only (e.g. "18", "\frac{1}{2}", "025")
  std::string solution;     // worked reference solution when the file has one, else empty
};

// How a kind's predictions are compared with its gold answers (see datasets/grader.h).
enum class GradingMode {
  math,     // LaTeX answers: normalisation, structure (tuples, sets, matrices), symbolic equality
  number,   // word problems with a numeric answer; `#### x` is accepted as an answer marker (GSM8K)
  integer,  // competition answers that are integers ("025" = 25 = 25.0)
};
const char* grading_mode_name(GradingMode mode);

struct DatasetKind {
  std::string name;
  std::string description;
  std::string default_path;      // relative to the shared dir (resolve_shared_dir); empty: --data required
  std::string question_field;
  std::string answer_field;
  std::string id_field;          // empty: the 0-based record index is the id
  std::string solution_field;    // empty: no reference solution in the file
  std::string question_suffix;   // stripped from the end of each question when present (prompt files)
  bool gold_after_hash = false;  // gold is the text after the final "#### " of the answer field (GSM8K)
  GradingMode grading = GradingMode::math;
};

// Which data to load. The field overrides apply to any kind, but are meant for the generic "jsonl" kind.
struct DatasetSpec {
  std::string name;        // a kind from list_dataset_kinds()
  std::string path;        // empty: the kind's default file under the shared dir
  int64_t limit = -1;      // first N records after `offset`; negative: all
  int64_t offset = 0;      // records skipped from the start
  bool use_sample = false; // the small hand-written sample compiled into lil (datasets/samples/<kind>.jsonl)
  std::string question_field;  // overrides of the kind's field names; empty: the kind's own
  std::string answer_field;
  std::string id_field;
  std::string solution_field;
};

const std::vector<DatasetKind>& list_dataset_kinds();
// LilError listing the known kinds when `name` is not one of them.
const DatasetKind& find_dataset_kind(const std::string& name);

// Loads, validates and selects records. LilError "<file>:<line>: ..." for malformed JSON, a missing or
// mistyped field, a GSM8K answer without "#### ", a duplicate id, or a missing file (naming how to fix it).
std::vector<Problem> load_dataset(const DatasetSpec& spec);

// The file load_dataset would read for `spec` (the sample's repository path when use_sample).
std::string dataset_file_path(const DatasetSpec& spec);

}  // namespace lil
