// grade(): extraction options and answer clean-up that depend on the data set kind.
#include <cctype>

#include "datasets/grader.h"

namespace lil {
namespace {

// "18 apples" -> "18" when the gold is a number: word problems' answers often name their unit, and no
// unit list is complete. Only a plain number followed by words qualifies ("2x" stays).
std::string strip_trailing_words(const std::string& answer) {
  size_t pos = 0;
  while (pos < answer.size() && (answer[pos] == ' ' || answer[pos] == '$')) ++pos;
  const size_t number_begin = pos;
  if (pos < answer.size() && answer[pos] == '-') ++pos;
  bool digits = false;
  while (pos < answer.size() && (std::isdigit(static_cast<unsigned char>(answer[pos])) || answer[pos] == ',' ||
                                 answer[pos] == '.')) {
    digits = digits || std::isdigit(static_cast<unsigned char>(answer[pos]));
    ++pos;
  }
  const size_t number_end = pos;
  if (!digits || pos >= answer.size() || answer[pos] != ' ') return answer;
  for (; pos < answer.size(); ++pos) {
    const char c = answer[pos];
    if (!std::isalpha(static_cast<unsigned char>(c)) && c != ' ' && c != '.') return answer;
  }
  return answer.substr(number_begin, number_end - number_begin);
}

}  // namespace

ExtractOptions extract_options_for(const DatasetKind& kind, bool strict) {
  ExtractOptions options;
  options.allow_hash_marker = kind.grading == GradingMode::number;
  options.last_number_fallback = !strict;
  return options;
}

Verdict grade(const DatasetKind& kind, const std::string& output, const std::string& gold, bool strict) {
  Verdict verdict;
  const auto extraction = extract_answer_detailed(output, extract_options_for(kind, strict));
  if (!extraction) {
    verdict.method = "no-answer";
    return verdict;
  }
  verdict.extracted = extraction->answer;
  verdict.source = extraction->source;
  std::string answer = extraction->answer;
  if (kind.grading != GradingMode::math) answer = strip_trailing_words(answer);
  const Equivalence equivalence = compare_answers(answer, gold);
  verdict.correct = equivalence.equal;
  verdict.method = equivalence.method;
  return verdict;
}

Verdict grade(const std::string& kind_name, const std::string& output, const std::string& gold, bool strict) {
  return grade(find_dataset_kind(kind_name), output, gold, strict);
}

}  // namespace lil
