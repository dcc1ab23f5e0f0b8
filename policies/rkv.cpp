#include "policies/rkv.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
constexpr int64_t kRowChunk = 256;
}  // namespace

RKVPolicy::RKVPolicy(int64_t budget, int64_t window, int64_t interval, int64_t kernel, double lambda,
                     double threshold, const PolicyGeometry& geometry)
    : ObservationWindowPolicy(budget, window, interval, geometry), kernel_(kernel), lambda_(lambda), threshold_(threshold) {}

at::Tensor RKVPolicy::score_observed(const ObservedTokens& tokens) {
  at::Tensor importance = pool_candidates(tokens.attention, tokens.candidate, kernel_, Pooling::Max);
  at::Tensor redundancy = key_redundancy(tokens.keys, tokens.positions, tokens.resident, threshold_);
  // Non-candidates pool to -inf; keep them finite (their score is ignored).
  importance = importance.masked_fill(tokens.candidate.logical_not(), 0.0);
  return importance * lambda_ - redundancy * (1.0 - lambda_);
}

at::Tensor key_redundancy(const at::Tensor& keys, const at::Tensor& positions, const at::Tensor& resident,
                          double threshold) {
  const auto type = score_dtype(keys.scalar_type());
  const int64_t n = keys.size(2);
  at::Tensor k = keys.to(type);
  at::Tensor unit = k / (k.norm(2, -1, /*keepdim=*/true) + 1e-8);                 // [B,Hkv,N,D]
  at::Tensor column_resident = resident.unsqueeze(2);                            // [B,Hkv,1,N]
  at::Tensor column_position = positions.unsqueeze(2);
  at::Tensor all_columns = at::arange(n, positions.options()).view({1, 1, 1, n});
  std::vector<at::Tensor> means;
  for (int64_t begin = 0; begin < n; begin += kRowChunk) {
    const int64_t end = std::min(n, begin + kRowChunk);
    at::Tensor sim = at::matmul(unit.slice(2, begin, end), unit.transpose(2, 3));  // [B,Hkv,c,N]
    at::Tensor row_index = at::arange(begin, end, positions.options()).view({1, 1, end - begin, 1});
    sim = sim.masked_fill(all_columns.eq(row_index).logical_or(column_resident.logical_not()), 0.0);
    at::Tensor similar = sim.gt(threshold);
    at::Tensor similar_position = column_position.masked_fill(similar.logical_not(), -1).expand_as(sim);
    auto latest = similar_position.max(-1, /*keepdim=*/true);                    // latest similar column
    at::Tensor drop = all_columns.eq(std::get<1>(latest)).logical_and(std::get<0>(latest).ge(0));
    means.push_back(sim.masked_fill(drop, 0.0).sum(-1));
  }
  at::Tensor n_resident = resident.sum(-1, /*keepdim=*/true).to(type);
  at::Tensor mean = at::cat(means, 2) / n_resident.clamp_min(1.0);
  at::Tensor redundancy = at::softmax(mean.masked_fill(resident.logical_not(), -std::numeric_limits<double>::infinity()), -1);
  return redundancy.masked_fill(resident.logical_not(), 0.0);
}

}  // namespace lil
