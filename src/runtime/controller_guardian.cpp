#include "runtime/controller_guardian.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "core/error.h"
#include "runtime/controller_guardian_cuda.h"

namespace lil {
namespace {

using Clock = std::chrono::steady_clock;

void require_row_count(const std::vector<bool>& should_check, const std::vector<std::vector<int32_t>>& generated,
                       size_t rows) {
  if (should_check.size() != rows || generated.size() != rows) {
    throw std::invalid_argument("guardian: check got " + std::to_string(should_check.size()) + " flags and " +
                                std::to_string(generated.size()) + " rows, expected " + std::to_string(rows));
  }
}

}  // namespace

GuardianController::GuardianController(const GuardianOptions& options) : options_(options), rule_(options.threshold) {
  validate_lz77_params(options_.lz77);
  if (options_.every < 1) throw std::invalid_argument("guardian: every must be at least 1");
  if (options_.device == ComputeDevice::Cuda && !Lz77CudaMeter::available()) {
    fail_at("--controller-arg device", "'cuda' needs the CUDA kernels, which this build does not have (it needs nvcc "
                                       "and a CUDA LibTorch); use device=auto or device=cpu");
  }
}

GuardianController::~GuardianController() = default;

void GuardianController::reset(const ControllerContext& context) {
  context_ = context;
  const auto rows = static_cast<size_t>(std::max<int64_t>(context.rows, 0));
  parsers_.assign(rows, Lz77Parser(options_.lz77));
  previous_cost_.assign(rows, 0);
  checked_length_.assign(rows, 0);
  cuda_meter_.reset();
}

void GuardianController::observe(const at::Tensor& tokens, const at::Tensor& /*logits*/, const at::Tensor& active) {
  if (options_.device == ComputeDevice::Cpu) return;
  if (!tokens.is_cuda()) {
    if (options_.device == ComputeDevice::Cuda) {
      fail_at("--controller-arg device", "'cuda' runs Guardian's parse on the GPU, but the model's tokens are on " +
                                             tokens.device().str() + "; use device=auto or device=cpu");
    }
    return;
  }
  if (!cuda_meter_) {
    // The device history must hold every generated token: start it only at a decode's first step, and only
    // when the longest possible output is known.
    const bool fresh = std::all_of(checked_length_.begin(), checked_length_.end(), [](int64_t n) { return n == 0; });
    if (!Lz77CudaMeter::available() || !fresh || context_.max_new_tokens < 1 || context_.rows < 1) {
      if (options_.device == ComputeDevice::Cuda) {
        fail_at("--controller-arg device", "'cuda' could not start the GPU parse (it needs a CUDA build, the batch "
                                           "size and max_new_tokens before the first token)");
      }
      return;
    }
    cuda_meter_ = std::make_unique<Lz77CudaMeter>(options_.lz77, options_.threshold, context_.rows,
                                                  context_.max_new_tokens, tokens.device());
  }
  cuda_meter_->append(tokens, active);
}

std::vector<ControllerCheck> GuardianController::check(const std::vector<bool>& should_check,
                                                       const std::vector<std::vector<int32_t>>& generated) {
  require_row_count(should_check, generated, parsers_.size());
  const auto start = Clock::now();
  std::vector<ControllerCheck> checks = cuda_meter_ ? check_on_gpu(should_check, generated)
                                                    : check_on_cpu(should_check, generated);
  // Rows checked together share the call's wall time: it is what the decode loop waited for.
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (size_t i = 0; i < checks.size(); ++i) {
    if (should_check[i]) checks[i].seconds = seconds;
  }
  return checks;
}

std::vector<ControllerCheck> GuardianController::check_on_cpu(const std::vector<bool>& should_check,
                                                              const std::vector<std::vector<int32_t>>& generated) {
  std::vector<ControllerCheck> checks(generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    if (!should_check[i]) continue;
    const std::vector<int32_t>& ids = generated[i];
    const auto length = static_cast<int64_t>(ids.size());
    if (length < checked_length_[i]) {
      throw std::logic_error("guardian: row " + std::to_string(i) + " has " + std::to_string(length) +
                             " tokens, fewer than at its previous check (" + std::to_string(checked_length_[i]) + ")");
    }
    parsers_[i].append_block(ids.data() + checked_length_[i], static_cast<size_t>(length - checked_length_[i]));
    const int64_t cost = parsers_[i].compressed_length();
    checks[i].step = length;
    checks[i].signal = static_cast<double>(cost);
    checks[i].fired = rule_.fires(static_cast<double>(previous_cost_[i]), static_cast<double>(cost));
    previous_cost_[i] = cost;
    checked_length_[i] = length;
  }
  return checks;
}

std::vector<ControllerCheck> GuardianController::check_on_gpu(const std::vector<bool>& should_check,
                                                              const std::vector<std::vector<int32_t>>& generated) {
  std::vector<int64_t> rows;
  int64_t max_block = 0;
  for (size_t i = 0; i < generated.size(); ++i) {
    if (!should_check[i]) continue;
    rows.push_back(static_cast<int64_t>(i));
    max_block = std::max(max_block, static_cast<int64_t>(generated[i].size()) - checked_length_[i]);
  }
  const std::vector<Lz77CudaMeter::Reading> readings = cuda_meter_->check(rows, max_block);
  std::vector<ControllerCheck> checks(generated.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const auto i = static_cast<size_t>(rows[k]);
    const auto length = static_cast<int64_t>(generated[i].size());
    if (readings[k].length != length) {
      throw std::logic_error("guardian (GPU): row " + std::to_string(i) + " has " + std::to_string(readings[k].length) +
                             " tokens on the device but " + std::to_string(length) +
                             " in the engine: observe() missed a step");
    }
    checks[i].step = length;
    checks[i].signal = static_cast<double>(readings[k].cost);
    checks[i].fired = readings[k].fired;
    checked_length_[i] = length;
  }
  return checks;
}

}  // namespace lil
