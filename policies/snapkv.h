#pragma once
// SnapKV (Li et al., NeurIPS 2024, "SnapKV: LLM Knows What You Are Looking for Before Generation"), with
// the defaults of the authors' code as kvpress reproduces them (window 32, kernel 7, average pooling).
//
// Eviction, on the observation-window machinery of policies/observation_window.h (window protection,
// scoring at the prefill and every `interval` decode steps). Score of a candidate token = "vote": the
// causal attention it receives from the window's queries, averaged over those queries and over the G query
// heads sharing its KV head, then pooled along the candidates in position order (stride 1, `kernel / 2`
// zero padding; average pooling divides by `kernel`, as torch's avg_pool1d). The paper compresses at the
// prefill only; re-scoring during decoding is what lets it bound a long generation to the budget.
// Knobs: window=32, kernel=7 (odd), pooling=avg|max, interval=32 (window + interval <= budget).
#include "policies/observation_window.h"

namespace lil {

class SnapKVPolicy final : public ObservationWindowPolicy {
 public:
  SnapKVPolicy(int64_t budget, int64_t window, int64_t interval, int64_t kernel, Pooling pooling,
               const PolicyGeometry& geometry);
  std::string name() const override { return "snapkv"; }

 protected:
  at::Tensor score_observed(const ObservedTokens& tokens) override;

 private:
  int64_t kernel_;
  Pooling pooling_;
};

}  // namespace lil
