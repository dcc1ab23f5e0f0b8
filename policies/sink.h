#pragma once
#include "policies/policy.h"

namespace lil {

// StreamingLLM (Xiao et al., 2024, "Efficient Streaming Language Models with Attention Sinks").
// Keeps the first `n_sink` tokens of the sequence plus the most recent `budget - n_sink` tokens; the
// token evicted when the cache is full is the oldest non-sink token. Prefill keeps the same set.
class SinkPolicy final : public Policy {
 public:
  SinkPolicy(int64_t budget, int64_t n_sink, const PolicyGeometry& geometry);
  std::string name() const override { return "sink"; }
  PolicyKind kind() const override { return PolicyKind::Eviction; }
  at::Tensor prefill_scores(const PrefillView& view) override;
  at::Tensor protected_slots(const LayerCache& cache, const at::Tensor& next_position) override;
  at::Tensor eviction_scores(const LayerCache& cache) override;

 private:
  int64_t n_sink_;
};

}  // namespace lil
