#include "runtime/controller_entropy.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace lil {

at::Tensor token_entropy(const at::Tensor& logits) {
  // entr(p) = -p log p is 0 at p = 0, so tokens masked to -inf contribute nothing (not NaN).
  return at::special_entr(at::softmax(logits.to(at::kFloat), -1)).sum(-1);
}

EntropyPlateauController::EntropyPlateauController(const EntropyOptions& options) : options_(options) {
  if (options_.every < 1 || options_.window < 1 || options_.patience < 1) {
    throw std::invalid_argument("entropy_plateau: every, window and patience must be at least 1");
  }
}

void EntropyPlateauController::reset(const ControllerContext& context) {
  rows_ = std::max<int64_t>(context.rows, 0);
  ring_ = at::Tensor();  // allocated on the logits' device at the first observe
  observed_ = at::Tensor();
  previous_mean_.assign(static_cast<size_t>(rows_), 0.0);
  has_previous_.assign(static_cast<size_t>(rows_), false);
  streak_.assign(static_cast<size_t>(rows_), 0);
}

void EntropyPlateauController::observe(const at::Tensor& /*tokens*/, const at::Tensor& logits,
                                       const at::Tensor& active) {
  if (logits.dim() != 2 || logits.size(0) != rows_ || active.numel() != rows_) {
    throw std::invalid_argument("entropy_plateau: expected logits [" + std::to_string(rows_) + ", V] and " +
                                std::to_string(rows_) + " active flags");
  }
  if (!ring_.defined()) {
    ring_ = at::zeros({rows_, options_.window}, logits.options().dtype(at::kFloat));
    observed_ = at::zeros({rows_}, logits.options().dtype(at::kLong));
  }
  const at::Tensor entropy = token_entropy(logits);
  const at::Tensor is_active = active.to(logits.device(), at::kBool).reshape({rows_});
  const at::Tensor column = observed_.remainder(options_.window).unsqueeze(1);
  // Inactive rows rewrite their current value, so the update has one shape for every step.
  const at::Tensor kept = ring_.gather(1, column).squeeze(1);
  ring_.scatter_(1, column, at::where(is_active, entropy, kept).unsqueeze(1));
  observed_.add_(is_active.to(at::kLong));
}

std::vector<ControllerCheck> EntropyPlateauController::check(const std::vector<bool>& should_check,
                                                             const std::vector<std::vector<int32_t>>& generated) {
  const auto rows = static_cast<size_t>(rows_);
  if (should_check.size() != rows || generated.size() != rows) {
    throw std::invalid_argument("entropy_plateau: check got " + std::to_string(generated.size()) + " rows, expected " +
                                std::to_string(rows));
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<ControllerCheck> checks(rows);
  if (!ring_.defined()) {
    throw std::logic_error("entropy_plateau: check before any observe (it needs the logits of every step)");
  }
  // The ring holds zeros where nothing was written yet; divide by the number of tokens actually held.
  const at::Tensor held = observed_.clamp_max(options_.window).clamp_min(1).to(at::kFloat);
  const at::Tensor means = (ring_.sum(1) / held).cpu();
  const at::Tensor counts = observed_.cpu();
  const float* mean = means.data_ptr<float>();
  const int64_t* count = counts.data_ptr<int64_t>();
  for (size_t i = 0; i < rows; ++i) {
    if (!should_check[i]) continue;
    if (count[i] != static_cast<int64_t>(generated[i].size())) {
      throw std::logic_error("entropy_plateau: row " + std::to_string(i) + " observed " + std::to_string(count[i]) +
                             " tokens but generated " + std::to_string(generated[i].size()));
    }
    const double value = mean[i];
    bool holds = false;
    if (options_.rule == EntropyRule::Below) {
      holds = value < options_.threshold;
    } else {
      holds = has_previous_[i] && std::abs(value - previous_mean_[i]) < options_.epsilon;
    }
    streak_[i] = holds ? streak_[i] + 1 : 0;
    previous_mean_[i] = value;
    has_previous_[i] = true;
    checks[i].step = static_cast<int64_t>(generated[i].size());
    checks[i].signal = value;
    checks[i].fired = streak_[i] >= options_.patience;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < rows; ++i) {
    if (should_check[i]) checks[i].seconds = seconds;
  }
  return checks;
}

}  // namespace lil
