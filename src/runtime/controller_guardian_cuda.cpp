#include "runtime/controller_guardian_cuda.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/error.h"

#ifdef LIL_WITH_CUDA
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/lz77.h"
#endif

namespace lil {

#ifdef LIL_WITH_CUDA

bool Lz77CudaMeter::available() { return true; }

Lz77CudaMeter::Lz77CudaMeter(const Lz77Params& params, double threshold, int64_t rows, int64_t capacity,
                             c10::Device device)
    : params_(params), threshold_(threshold), rows_(rows), capacity_(capacity), device_(device) {
  validate_lz77_params(params_);
  if (!device.is_cuda()) throw std::invalid_argument("Lz77CudaMeter: expected a CUDA device, got " + device.str());
  if (rows < 1 || capacity < 1) {
    throw std::invalid_argument("Lz77CudaMeter: expected rows and capacity >= 1, got " + std::to_string(rows) + " and " +
                                std::to_string(capacity));
  }
  const c10::cuda::CUDAGuard guard(device_);
  history_ = at::zeros({rows, capacity}, at::TensorOptions().dtype(at::kInt).device(device_));
  state_ = at::zeros({rows, kernels::kLz77StateFields}, at::TensorOptions().dtype(at::kLong).device(device_));
}

void Lz77CudaMeter::append(const at::Tensor& tokens, const at::Tensor& active) {
  if (tokens.numel() != rows_ || active.numel() != rows_) {
    throw std::invalid_argument("Lz77CudaMeter::append: expected " + std::to_string(rows_) + " tokens and flags, got " +
                                std::to_string(tokens.numel()) + " and " + std::to_string(active.numel()));
  }
  const c10::cuda::CUDAGuard guard(device_);
  const at::Tensor ids = tokens.to(device_, at::kLong).contiguous();
  const at::Tensor flags = active.to(device_, at::kBool).contiguous();
  kernels::lz77_append_tokens(history_.data_ptr<int32_t>(), capacity_,
                              reinterpret_cast<kernels::Lz77RowState*>(state_.data_ptr<int64_t>()),
                              ids.data_ptr<int64_t>(), flags.data_ptr<bool>(), rows_,
                              at::cuda::getCurrentCUDAStream(device_.index()).stream());
}

std::vector<Lz77CudaMeter::Reading> Lz77CudaMeter::check(const std::vector<int64_t>& rows, int64_t max_block) {
  if (rows.empty()) return {};
  std::vector<int32_t> row_ids;
  for (int64_t row : rows) {
    if (row < 0 || row >= rows_) throw std::invalid_argument("Lz77CudaMeter::check: no row " + std::to_string(row));
    row_ids.push_back(static_cast<int32_t>(row));
  }
  const c10::cuda::CUDAGuard guard(device_);
  const at::Tensor checked = at::tensor(row_ids, at::TensorOptions().dtype(at::kInt)).to(device_);
  const int64_t block = std::max<int64_t>(max_block, 0);
  at::Tensor scratch = at::empty({static_cast<int64_t>(rows.size()), std::max<int64_t>(block, 1)},
                                 at::TensorOptions().dtype(at::kInt).device(device_));
  const kernels::Lz77KernelParams kernel_params{params_.min_match, params_.max_match, params_.literal_cost,
                                                params_.match_cost, threshold_};
  kernels::lz77_check(history_.data_ptr<int32_t>(), capacity_,
                      reinterpret_cast<kernels::Lz77RowState*>(state_.data_ptr<int64_t>()), checked.data_ptr<int32_t>(),
                      static_cast<int64_t>(rows.size()), block, kernel_params, scratch.data_ptr<int32_t>(),
                      at::cuda::getCurrentCUDAStream(device_.index()).stream());
  // The only device-to-host copy of Guardian: the checked rows' state (8 int64 each).
  const at::Tensor host = state_.index_select(0, checked.to(at::kLong)).cpu();
  const auto* fields = host.data_ptr<int64_t>();
  std::vector<Reading> readings;
  for (size_t i = 0; i < rows.size(); ++i) {
    kernels::Lz77RowState s{};
    std::copy(fields + i * kernels::kLz77StateFields, fields + (i + 1) * kernels::kLz77StateFields,
              reinterpret_cast<int64_t*>(&s));
    if (s.status == kernels::kLz77HistoryOverflow) {
      throw std::logic_error("guardian (GPU): row " + std::to_string(rows[i]) + " has " + std::to_string(s.length) +
                             " tokens, more than the history holds (" + std::to_string(capacity_) + ")");
    }
    if (s.status == kernels::kLz77BlockTooLong) {
      throw std::logic_error("guardian (GPU): row " + std::to_string(rows[i]) + " has " +
                             std::to_string(s.length - s.parsed) + " new tokens, more than max_block " +
                             std::to_string(block));
    }
    readings.push_back(Reading{s.length, s.literals, s.matches, s.matched_tokens, s.cost, s.fired != 0});
  }
  return readings;
}

#else  // a build without the CUDA kernels

bool Lz77CudaMeter::available() { return false; }

Lz77CudaMeter::Lz77CudaMeter(const Lz77Params& params, double threshold, int64_t rows, int64_t capacity,
                             c10::Device device)
    : params_(params), threshold_(threshold), rows_(rows), capacity_(capacity), device_(device) {
  throw LilError("guardian: this build has no CUDA kernels (it needs nvcc and a CUDA LibTorch)");
}

void Lz77CudaMeter::append(const at::Tensor&, const at::Tensor&) {}

std::vector<Lz77CudaMeter::Reading> Lz77CudaMeter::check(const std::vector<int64_t>&, int64_t) { return {}; }

#endif

}  // namespace lil
