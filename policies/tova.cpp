#include "policies/tova.h"

#include <ATen/ATen.h>

#include "policies/prompt_attention.h"

namespace lil {

TovaPolicy::TovaPolicy(int64_t budget, const PolicyGeometry& geometry) : Policy(budget, geometry) {}

at::Tensor TovaPolicy::prefill_scores(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  return prompt_attention(view, prompt_len - 1, prompt_len).mean(1).squeeze(1);  // [Hkv, T]
}

void TovaPolicy::after_attention(LayerCache& cache, const DecodeStepView& step) {
  cache.scores.copy_(step.probs.mean(2));
}

}  // namespace lil
