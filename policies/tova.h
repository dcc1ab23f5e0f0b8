#pragma once
// TOVA, "Token Omission Via Attention" (Oren et al., EMNLP 2024, "Transformers are Multi-State RNNs").
//
// Eviction. Rule implemented, per (layer, row, KV head):
// - Score of a token = its attention probability at the latest query only (no accumulation), averaged over
//   the G query heads that share the KV head. The paper averages over all heads of a layer; the cache here
//   is per KV head, so each KV head's group decides for itself.
// - The prefill keeps the `budget` prompt tokens with the highest attention from the last prompt query.
// - Each decode write into a full cache evicts the token with the lowest score from the previous step's
//   attention (oldest on equal scores), then the step attends to the `budget` resident tokens. This is the
//   paper's "attend over n + 1, drop the lowest" with the drop deferred to the next write, so at most
//   `budget` tokens are ever attended.
// No knobs.
#include "policies/policy.h"

namespace lil {

class TovaPolicy final : public Policy {
 public:
  TovaPolicy(int64_t budget, const PolicyGeometry& geometry);
  std::string name() const override { return "tova"; }
  PolicyKind kind() const override { return PolicyKind::Eviction; }
  at::Tensor prefill_scores(const PrefillView& view) override;
  void after_attention(LayerCache& cache, const DecodeStepView& step) override;
  bool fused_eviction(FusedEviction* rule) const override {
    rule->update = FusedEviction::Update::SetMean;
    return true;
  }
};

}  // namespace lil
