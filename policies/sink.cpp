#include "policies/sink.h"

#include <limits>

#include <ATen/ATen.h>

namespace lil {

SinkPolicy::SinkPolicy(int64_t budget, int64_t n_sink, const PolicyGeometry& geometry)
    : Policy(budget, geometry), n_sink_(n_sink) {}

at::Tensor SinkPolicy::prefill_scores(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor pos = at::arange(prompt_len, view.keys.options().dtype(at::kFloat));
  at::Tensor scores = pos.masked_fill(pos.lt(static_cast<double>(n_sink_)), std::numeric_limits<float>::infinity());
  return scores.unsqueeze(0).expand({view.keys.size(0), prompt_len});
}

at::Tensor SinkPolicy::protected_slots(const LayerCache& cache, const at::Tensor& /*next_position*/) {
  return cache.positions.ge(0).logical_and(cache.positions.lt(n_sink_));
}

at::Tensor SinkPolicy::eviction_scores(const LayerCache& cache) {
  return cache.positions.to(at::kFloat);  // oldest first
}

}  // namespace lil
