#pragma once
// R-KV (Cai et al., 2025, "R-KV: Redundancy-aware KV Cache Compression for Reasoning Models"), following
// the scoring of the authors' code as kvpress's RkvPress reproduces it (window 8, kernel 7, lambda 0.07,
// similarity threshold 0.5, retain direction "last").
//
// Eviction, on the observation-window machinery of policies/observation_window.h (window protection,
// scoring at the prefill and every `interval` decode steps; the paper compresses every 128 decode steps,
// with a buffer beyond the budget). Score of a candidate token i:
//   score_i = lambda * importance_i - (1 - lambda) * redundancy_i
// - importance: the causal attention i receives from the window's queries, averaged over those queries and
//   the G query heads sharing its KV head, max-pooled along the candidates in position order (stride 1,
//   `kernel / 2` padding).
// - redundancy: over ALL resident tokens j (window included), with unit keys k/(|k| + 1e-8): S_ij = cosine
//   similarity, S_ii = 0; among the j with S_ij > threshold, the one with the latest position has S_ij set
//   to 0 (the newest near-duplicate does not count against i; kvpress zeroes column 0 when no j qualifies,
//   here nothing is zeroed); m_i = sum_j S_ij / (number of resident tokens); redundancy = softmax of m over
//   the resident tokens.
// Knobs: window=8, kernel=7 (odd), lambda=0.07, threshold=0.5, interval=32 (window + interval <= budget).
#include "policies/observation_window.h"

namespace lil {

class RKVPolicy final : public ObservationWindowPolicy {
 public:
  RKVPolicy(int64_t budget, int64_t window, int64_t interval, int64_t kernel, double lambda, double threshold,
            const PolicyGeometry& geometry);
  std::string name() const override { return "rkv"; }

 protected:
  at::Tensor score_observed(const ObservedTokens& tokens) override;

 private:
  int64_t kernel_;
  double lambda_;
  double threshold_;
};

// The redundancy term above for tokens [B, Hkv, N, D] (positions/resident [B, Hkv, N]): [B, Hkv, N] in the
// score dtype, 0 where not resident. Chunked over rows i so memory stays O(chunk x N).
at::Tensor key_redundancy(const at::Tensor& keys, const at::Tensor& positions, const at::Tensor& resident,
                          double threshold);

}  // namespace lil
