#include "policies/h2o.h"

#include <ATen/ATen.h>

#include "policies/prompt_attention.h"

namespace lil {

H2OPolicy::H2OPolicy(int64_t budget, int64_t recent, const PolicyGeometry& geometry)
    : Policy(budget, geometry), recent_(recent) {}

at::Tensor H2OPolicy::prefill_scores(const PrefillView& view) { return prompt_attention_received(view); }

at::Tensor H2OPolicy::prefill_protected(const PrefillView& view) { return prompt_recent_window(view, recent_); }

at::Tensor H2OPolicy::protected_slots(const LayerCache& cache, const at::Tensor& next_position) {
  return recent_window(cache.positions, next_position, recent_);
}

void H2OPolicy::after_attention(LayerCache& cache, const DecodeStepView& step) {
  cache.scores += step.probs.sum(2);  // eviction policies attend every slot: K == C, empty slots get 0
}

}  // namespace lil
