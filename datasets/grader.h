#pragma once
// Answer extraction and grading for reasoning benchmarks, following the conventions of the Qwen2.5-Math
// evaluator and Math-Verify: take the model's final answer from its output, normalise both sides, and
// decide equality by string, by structure (tuples, intervals, sets, matrices, equations) and by value,
// with GiNaC for symbolic equality. Pure functions of their arguments and safe to call from several
// threads (GiNaC work is serialised by one mutex, see latex_expression.h).
#include <optional>
#include <string>

#include "datasets/dataset.h"

namespace lil {

struct ExtractOptions {
  // Reasoning models answer after the think block; a \boxed{} inside it is a draft. When `think_end`
  // occurs, the text after its last occurrence is searched first, and the whole output only if that
  // text holds no answer.
  std::string think_end = "</think>";
  bool allow_hash_marker = false;     // "#### x" (GSM8K style)
  bool allow_answer_phrase = true;    // "the answer is x", "Final Answer: x"
  bool last_number_fallback = true;   // the last number in the text; off in strict mode
};

enum class ExtractionSource { none, boxed, hash_marker, answer_phrase, last_number };
const char* extraction_source_name(ExtractionSource source);

struct Extraction {
  std::string answer;
  ExtractionSource source = ExtractionSource::none;
};

// The model's final answer, trying in order: the last non-empty \boxed{...} / \fbox{...} (nested braces;
// also `\boxed 5`), `#### x`, "the answer is x" / "Final Answer: x", then the last number.
std::optional<std::string> extract_answer(const std::string& output, const ExtractOptions& options = {});
std::optional<Extraction> extract_answer_detailed(const std::string& output, const ExtractOptions& options = {});

struct GradeOptions {
  // A decimal matches a value that has no finite decimal form (1/3, pi, sqrt 2) within this relative
  // error, as the Qwen2.5-Math evaluator does; exact rationals (25, 0.5, 1/2) are always compared exactly.
  double decimal_relative_tolerance = 1e-4;
  // Bounds that keep one comparison fast, since GiNaC cannot be interrupted: longer answers are compared
  // as strings only, larger exponents and factorials are not evaluated.
  size_t max_answer_chars = 600;
  int max_exponent = 1000;
};

// How two answers were found equal or not. "string": identical after normalisation; "numeric": equal
// numbers; "symbolic": GiNaC proved the difference zero; "sampled": equal at random points (identities
// GiNaC does not simplify, like trigonometry); "structure": componentwise; "different": no rule matched.
struct Equivalence {
  bool equal = false;
  std::string method;
};

bool answers_equivalent(const std::string& predicted, const std::string& gold, const GradeOptions& options = {});
Equivalence compare_answers(const std::string& predicted, const std::string& gold, const GradeOptions& options = {});

struct Verdict {
  std::optional<std::string> extracted;  // nullopt: no answer found in the output
  bool correct = false;
  std::string method;  // "no-answer", or the Equivalence method
  ExtractionSource source = ExtractionSource::none;
};

// Extraction options a kind grades with: `#### ` only for GSM8K-style kinds; `strict` turns off the
// last-number fallback.
ExtractOptions extract_options_for(const DatasetKind& kind, bool strict);

Verdict grade(const DatasetKind& kind, const std::string& output, const std::string& gold, bool strict = false);
// By kind name; LilError for an unknown kind.
Verdict grade(const std::string& kind_name, const std::string& output, const std::string& gold, bool strict = false);

}  // namespace lil
