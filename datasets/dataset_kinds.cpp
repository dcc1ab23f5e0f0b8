// The benchmark registry. Field names, id rules and answer formats follow /work/shared/datasets/SOURCES.md;
// each entry says where its file comes from so that a reader can check it against the source.
#include <sstream>

#include "core/error.h"
#include "datasets/dataset.h"

namespace lil {

const char* grading_mode_name(GradingMode mode) {
  switch (mode) {
    case GradingMode::math: return "math";
    case GradingMode::number: return "number";
    case GradingMode::integer: return "integer";
  }
  return "unknown";
}

const std::vector<DatasetKind>& list_dataset_kinds() {
  // AIME 2025 prompts (QwenLM/QwQ) carry the instruction the templates add themselves; it is stripped so that
  // every kind hands the template a bare question.
  static const std::string kQwqInstructionSuffix =
      "\nPlease reason step by step, and put your final answer within \\boxed{}.";
  static const std::vector<DatasetKind> kinds = [] {
    std::vector<DatasetKind> all;
    {
      DatasetKind k;
      k.name = "gsm8k";
      k.description = "GSM8K test split (openai/grade-school-math), 1319 word problems, integer answers after ####";
      k.default_path = "datasets/gsm8k/test.jsonl";
      k.question_field = "question";
      k.answer_field = "answer";
      k.solution_field = "answer";
      k.gold_after_hash = true;
      k.grading = GradingMode::number;
      all.push_back(k);
    }
    {
      DatasetKind k;
      k.name = "math500";
      k.description = "MATH-500 (openai/prm800k test subset), 500 problems, LaTeX answers";
      k.default_path = "datasets/math500/test.jsonl";
      k.question_field = "problem";
      k.answer_field = "answer";
      k.id_field = "unique_id";
      k.solution_field = "solution";
      k.grading = GradingMode::math;
      all.push_back(k);
    }
    {
      DatasetKind k;
      k.name = "aime24";
      k.description = "AIME 2024 I and II (QwenLM/Qwen2.5-Math), 30 problems, answers as 3-digit strings";
      k.default_path = "datasets/aime24/test.jsonl";
      k.question_field = "problem";
      k.answer_field = "answer";
      k.id_field = "id";
      k.solution_field = "solution";
      k.grading = GradingMode::integer;
      all.push_back(k);
    }
    {
      DatasetKind k;
      k.name = "aime25";
      k.description = "AIME 2025 I and II (QwenLM/QwQ), 30 problems, integer answers; instruction suffix stripped";
      k.default_path = "datasets/aime25/test.jsonl";
      k.question_field = "prompt";
      k.answer_field = "answer";
      k.question_suffix = kQwqInstructionSuffix;
      k.grading = GradingMode::integer;
      all.push_back(k);
    }
    {
      DatasetKind k;
      k.name = "amc23";
      k.description = "AMC 2023 12A/12B (QwenLM/Qwen2.5-Math), 40 problems, answers as floats (27.0)";
      k.default_path = "datasets/amc23/test.jsonl";
      k.question_field = "problem";
      k.answer_field = "answer";
      k.id_field = "id";
      k.grading = GradingMode::integer;
      all.push_back(k);
    }
    {
      DatasetKind k;
      k.name = "jsonl";
      k.description = "any JSONL file (--data): fields question/answer/id by default, configurable";
      k.question_field = "question";
      k.answer_field = "answer";
      k.grading = GradingMode::math;
      all.push_back(k);
    }
    return all;
  }();
  return kinds;
}

const DatasetKind& find_dataset_kind(const std::string& name) {
  for (const auto& kind : list_dataset_kinds()) {
    if (kind.name == name) return kind;
  }
  std::ostringstream known;
  for (const auto& kind : list_dataset_kinds()) known << (known.tellp() > 0 ? ", " : "") << kind.name;
  fail_at("data set '" + name + "'", "unknown data set; known kinds: " + known.str());
}

}  // namespace lil
