#include "policies/snapkv.h"

#include <ATen/ATen.h>

namespace lil {

SnapKVPolicy::SnapKVPolicy(int64_t budget, int64_t window, int64_t interval, int64_t kernel, Pooling pooling,
                           const PolicyGeometry& geometry)
    : ObservationWindowPolicy(budget, window, interval, geometry), kernel_(kernel), pooling_(pooling) {}

at::Tensor SnapKVPolicy::score_observed(const ObservedTokens& tokens) {
  return pool_candidates(tokens.attention, tokens.candidate, kernel_, pooling_);
}

}  // namespace lil
