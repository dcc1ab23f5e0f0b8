#pragma once
// Shared machinery of the eviction policies that score the cache with the attention of an observation
// window of recent queries (SnapKV, R-KV): at the prefill (the last `window` prompt queries, as the papers
// do) and again every `interval` decode steps (the last `window` queries, kept in a ring buffer).
//
// Rule shared by both, per (layer, row, KV head):
// - At a scoring, with the latest query at position s: the "window" is the `window` most recent tokens
//   (positions > s - window); every other resident token is a candidate and gets a score from the
//   subclass (higher = keep). The attention used is the causal softmax of each buffered query over the
//   resident tokens, averaged over the queries and the G query heads that share the KV head.
// - Protected from eviction until the next scoring: the window and everything written after the scoring,
//   i.e. positions > s - window. Each decode write into a full cache evicts the unprotected token with the
//   lowest score (oldest on equal scores). `window + interval <= budget` guarantees an unprotected victim.
// - The prefill keeps the window plus the highest-scoring prompt tokens.
// Scoring every `interval` steps is a host-side branch on the layer's step counter (no device read): the
// decode step has two fixed-shape variants, with and without scoring.
#include <cstdint>

#include "policies/policy.h"

namespace lil {

enum class Pooling { Average, Max };

class ObservationWindowPolicy : public Policy {
 public:
  ObservationWindowPolicy(int64_t budget, int64_t window, int64_t interval, const PolicyGeometry& geometry);
  PolicyKind kind() const override { return PolicyKind::Eviction; }
  void init_layer(LayerCache& cache) override;
  at::Tensor prefill_scores(const PrefillView& view) override;
  at::Tensor prefill_protected(const PrefillView& view) override;
  void after_prefill(LayerCache& cache, const PrefillView& view) override;
  at::Tensor protected_slots(const LayerCache& cache, const at::Tensor& next_position) override;
  void after_attention(LayerCache& cache, const DecodeStepView& step) override;
  // Steps that rescore are a different CUDA graph from those that do not.
  int64_t graph_variant(int64_t decode_step) const override { return decode_step % interval_ == 0 ? 1 : 0; }

 protected:
  // The tokens of one scoring, sorted by position (resident tokens first, oldest first): [B, Hkv, N, ...].
  // Candidates are a prefix of that order, so pooling along N pools neighbouring candidates.
  struct ObservedTokens {
    at::Tensor keys;       // [B, Hkv, N, D]
    at::Tensor positions;  // [B, Hkv, N] int64, -1 where no token
    at::Tensor resident;   // [B, Hkv, N] bool
    at::Tensor candidate;  // [B, Hkv, N] bool: resident and outside the window
    at::Tensor attention;  // [B, Hkv, N] score dtype
  };
  // Scores of the candidates, [B, Hkv, N] (entries of non-candidates are ignored).
  virtual at::Tensor score_observed(const ObservedTokens& tokens) = 0;

  // 1-D pooling along N over the candidates with stride 1 and `kernel / 2` padding; non-candidates count as
  // padding (0 for the average, which divides by `kernel` as torch's avg_pool1d does; -inf for the max).
  static at::Tensor pool_candidates(const at::Tensor& values, const at::Tensor& candidate, int64_t kernel,
                                    Pooling pooling);

  int64_t window_;
  int64_t interval_;

 private:
  void rescore(LayerCache& cache, const at::Tensor& latest_position, double softmax_scale);
};

}  // namespace lil
