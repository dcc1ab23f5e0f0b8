#include "policies/sink.h"

#include <ATen/ATen.h>

namespace lil {

SinkPolicy::SinkPolicy(int64_t budget, int64_t n_sink, const PolicyGeometry& geometry)
    : Policy(budget, geometry), n_sink_(n_sink) {}

at::Tensor SinkPolicy::prefill_scores(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor recency = at::arange(prompt_len, view.keys.options().dtype(score_dtype(view.keys.scalar_type())));
  return recency.unsqueeze(0).expand({view.keys.size(0), prompt_len});
}

at::Tensor SinkPolicy::prefill_protected(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor pos = at::arange(prompt_len, view.keys.options().dtype(at::kLong));
  return pos.lt(n_sink_).unsqueeze(0).expand({view.keys.size(0), prompt_len});
}

at::Tensor SinkPolicy::protected_slots(const LayerCache& cache, const at::Tensor& /*next_position*/) {
  return cache.positions.ge(0).logical_and(cache.positions.lt(n_sink_));
}

at::Tensor SinkPolicy::eviction_scores(const LayerCache& cache) {
  return cache.positions.to(cache.scores.scalar_type());  // oldest first
}

}  // namespace lil
