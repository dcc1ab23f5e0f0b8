#pragma once
// H2O, "Heavy-Hitter Oracle" (Zhang et al., NeurIPS 2023, "H2O: Heavy-Hitter Oracle for Efficient
// Generative Inference of Large Language Models").
//
// Eviction. Rule implemented, per (layer, row, KV head):
// - Score of a token = the attention probability it has accumulated from every query so far, summed over
//   the G query heads that share the KV head (GQA). The prefill seeds it with the mass received from every
//   prompt query (dense causal attention); each decode step adds the probabilities of that step's attention
//   over the resident tokens (the new token starts at 0 and receives its own step's probability).
// - The `recent` most recent tokens are always kept (at the prefill: the last `recent` prompt tokens; at a
//   decode write of position p: the tokens p-recent+1 .. p-1, which with p make `recent` tokens).
// - The cache holds `budget` tokens: the prefill keeps the recent window plus the highest-scoring prompt
//   tokens; each decode write into a full cache evicts the unprotected token with the lowest score (oldest on
//   equal scores).
// Knob: recent (default budget/2, the paper's even split of heavy hitters and recent tokens).
#include "policies/policy.h"

namespace lil {

class H2OPolicy final : public Policy {
 public:
  H2OPolicy(int64_t budget, int64_t recent, const PolicyGeometry& geometry);
  std::string name() const override { return "h2o"; }
  PolicyKind kind() const override { return PolicyKind::Eviction; }
  at::Tensor prefill_scores(const PrefillView& view) override;
  at::Tensor prefill_protected(const PrefillView& view) override;
  at::Tensor protected_slots(const LayerCache& cache, const at::Tensor& next_position) override;
  void after_attention(LayerCache& cache, const DecodeStepView& step) override;
  bool fused_eviction(FusedEviction* rule) const override {
    rule->protect_recent = recent_;
    rule->update = FusedEviction::Update::AddSum;
    return true;
  }

 private:
  int64_t recent_;
};

}  // namespace lil
