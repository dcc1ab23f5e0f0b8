#include "runtime/controller_answer.h"

#include <chrono>
#include <stdexcept>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace lil {

AnswerConvergenceController::AnswerConvergenceController(const AnswerConvergenceOptions& options)
    : options_(options) {
  if (options_.every < 1 || options_.checks < 1) {
    throw std::invalid_argument("answer_convergence: every and checks must be at least 1");
  }
}

void AnswerConvergenceController::reset(const ControllerContext& context) {
  if (!context.tokenizer) fail_at("--controller answer_convergence", "needs a tokenizer to decode the output");
  tokenizer_ = context.tokenizer;
  const auto rows = static_cast<size_t>(std::max<int64_t>(context.rows, 0));
  previous_answer_.assign(rows, std::nullopt);
  streak_.assign(rows, 0);
}

std::vector<ControllerCheck> AnswerConvergenceController::check(const std::vector<bool>& should_check,
                                                                const std::vector<std::vector<int32_t>>& generated) {
  if (!tokenizer_) throw std::logic_error("answer_convergence: check before reset");
  if (should_check.size() != streak_.size() || generated.size() != streak_.size()) {
    throw std::invalid_argument("answer_convergence: check got " + std::to_string(generated.size()) +
                                " rows, expected " + std::to_string(streak_.size()));
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<ControllerCheck> checks(generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    if (!should_check[i]) continue;
    const std::optional<std::string> answer = extract_answer(tokenizer_->decode(generated[i]), options_.extract);
    if (!answer) {
      streak_[i] = 0;
    } else {
      streak_[i] = previous_answer_[i] == answer ? streak_[i] + 1 : 1;
    }
    previous_answer_[i] = answer;
    checks[i].step = static_cast<int64_t>(generated[i].size());
    checks[i].signal = static_cast<double>(streak_[i]);
    checks[i].fired = streak_[i] >= options_.checks;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < checks.size(); ++i) {
    if (should_check[i]) checks[i].seconds = seconds;
  }
  return checks;
}

}  // namespace lil
