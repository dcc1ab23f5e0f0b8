#pragma once
// StreamingLLM (Xiao et al., ICLR 2024, "Efficient Streaming Language Models with Attention Sinks").
//
// Eviction. Rule implemented, per (layer, row, KV head): keep the first `n_sink` tokens of the sequence
// (attention sinks) plus the most recent `budget - n_sink` tokens. The prefill keeps that set of the
// prompt; each decode write into a full cache evicts the oldest non-sink token. Scores play no part.
// Knob: n_sink (default 4, the paper's choice).
#include "policies/policy.h"

namespace lil {

class SinkPolicy final : public Policy {
 public:
  SinkPolicy(int64_t budget, int64_t n_sink, const PolicyGeometry& geometry);
  std::string name() const override { return "sink"; }
  PolicyKind kind() const override { return PolicyKind::Eviction; }
  at::Tensor prefill_scores(const PrefillView& view) override;
  at::Tensor prefill_protected(const PrefillView& view) override;
  at::Tensor protected_slots(const LayerCache& cache, const at::Tensor& next_position) override;
  at::Tensor eviction_scores(const LayerCache& cache) override;
  bool fused_eviction(FusedEviction* rule) const override {
    rule->protect_below = n_sink_;
    rule->key_is_position = true;
    return true;
  }

 private:
  int64_t n_sink_;
};

}  // namespace lil
