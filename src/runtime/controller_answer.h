#pragma once
// Answer convergence: stop a row once the answer extracted from its output so far (the grader's
// extract_answer, datasets/grader.h) has been present and the same string at `checks` consecutive checks.
// Targets the re-verification that follows a found answer. Each check decodes the whole output (O(n)).
// By default only explicit answers count (\boxed{}, "the answer is", "Final Answer:"); the last-number
// fallback, which changes with every number written while reasoning, is opt-in.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datasets/grader.h"
#include "runtime/controller.h"

namespace lil {

struct AnswerConvergenceOptions {
  int64_t every = 250;
  int64_t checks = 3;      // consecutive checks with the same present answer (the brief's m)
  ExtractOptions extract;  // think_end, hash marker, answer phrase, last-number fallback
};

class AnswerConvergenceController : public StopController {
 public:
  explicit AnswerConvergenceController(const AnswerConvergenceOptions& options);

  std::string name() const override { return "answer_convergence"; }
  int64_t check_every() const override { return options_.every; }
  // LilError when the context has no tokenizer.
  void reset(const ControllerContext& context) override;
  // The signal is the number of consecutive checks the current answer has held (0: no answer).
  std::vector<ControllerCheck> check(const std::vector<bool>& should_check,
                                     const std::vector<std::vector<int32_t>>& generated) override;

 private:
  AnswerConvergenceOptions options_;
  const Tokenizer* tokenizer_ = nullptr;
  std::vector<std::optional<std::string>> previous_answer_;
  std::vector<int64_t> streak_;
};

}  // namespace lil
