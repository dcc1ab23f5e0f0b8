#include "policies/observation_window.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "policies/prompt_attention.h"

namespace lil {
namespace {
const char* const kQueries = "observed_queries";      // [B, Hkv, G, W, D] ring buffer, slot = position % W
const char* const kQueryPositions = "observed_positions";  // [B, W] int64, -1 = empty
const char* const kScoredUpTo = "scored_up_to";        // [B] int64: position of the latest query at the last scoring
}  // namespace

ObservationWindowPolicy::ObservationWindowPolicy(int64_t budget, int64_t window, int64_t interval,
                                                 const PolicyGeometry& geometry)
    : Policy(budget, geometry), window_(window), interval_(interval) {}

void ObservationWindowPolicy::init_layer(LayerCache& cache) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), head_dim = cache.keys.size(3);
  const int64_t group = geometry_.n_q_heads / geometry_.n_kv_heads;
  cache.aux[kQueries] = at::zeros({rows, n_kv, group, window_, head_dim}, cache.keys.options());
  cache.aux[kQueryPositions] = at::full({rows, window_}, -1, cache.positions.options());
  cache.aux[kScoredUpTo] = at::full({rows}, -1, cache.positions.options());
}

at::Tensor ObservationWindowPolicy::prefill_scores(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  const int64_t observed = std::min(window_, prompt_len);
  at::Tensor positions = at::arange(prompt_len, view.keys.options().dtype(at::kLong))
                             .view({1, 1, prompt_len})
                             .expand({1, view.keys.size(0), prompt_len});
  ObservedTokens tokens;
  tokens.keys = view.keys.unsqueeze(0);
  tokens.positions = positions;
  tokens.resident = positions.ge(0);
  tokens.candidate = positions.lt(prompt_len - window_);
  tokens.attention = prompt_attention(view, prompt_len - observed, prompt_len).mean({1, 2}).unsqueeze(0);
  at::Tensor scores = score_observed(tokens).masked_fill(tokens.candidate.logical_not(), 0.0);
  return scores.squeeze(0);
}

at::Tensor ObservationWindowPolicy::prefill_protected(const PrefillView& view) {
  return prompt_recent_window(view, window_);
}

void ObservationWindowPolicy::after_prefill(LayerCache& cache, const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  const int64_t observed = std::min(window_, prompt_len);
  const int64_t n_kv = view.keys.size(0), head_dim = view.keys.size(2);
  const int64_t group = view.queries.size(0) / n_kv;
  at::Tensor positions = at::arange(prompt_len - observed, prompt_len, cache.positions.options());
  at::Tensor ring_slots = positions.remainder(window_);
  at::Tensor queries = view.queries.slice(1, prompt_len - observed, prompt_len).reshape({n_kv, group, observed, head_dim});
  cache.aux[kQueries][view.row].zero_().index_copy_(2, ring_slots, queries.to(cache.keys.scalar_type()));
  cache.aux[kQueryPositions][view.row].fill_(-1).index_copy_(0, ring_slots, positions);
  cache.aux[kScoredUpTo][view.row].fill_(prompt_len - 1);
}

at::Tensor ObservationWindowPolicy::protected_slots(const LayerCache& cache, const at::Tensor& /*next_position*/) {
  at::Tensor oldest_protected = (cache.aux.at(kScoredUpTo) - window_).view({-1, 1, 1});
  return cache.positions.ge(0).logical_and(cache.positions.gt(oldest_protected));
}

void ObservationWindowPolicy::after_attention(LayerCache& cache, const DecodeStepView& step) {
  const int64_t rows = step.query.size(0), n_kv = step.query.size(1), group = step.query.size(2),
                head_dim = step.query.size(3);
  at::Tensor ring_slot = step.position.remainder(window_).view({rows, 1});
  cache.aux[kQueries].scatter_(3, ring_slot.view({rows, 1, 1, 1, 1}).expand({rows, n_kv, group, 1, head_dim}),
                               step.query.unsqueeze(3).to(cache.keys.scalar_type()));
  cache.aux[kQueryPositions].scatter_(1, ring_slot, step.position.view({rows, 1}));
  if (cache.decode_steps % interval_ == 0) rescore(cache, step.position, step.softmax_scale);
}

void ObservationWindowPolicy::rescore(LayerCache& cache, const at::Tensor& latest_position, double softmax_scale) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1);
  const auto type = cache.scores.scalar_type();
  // Sort the slots by position, empty slots last.
  at::Tensor sort_key = cache.positions.masked_fill(cache.positions.lt(0), std::numeric_limits<int64_t>::max());
  at::Tensor order = std::get<1>(sort_key.sort(-1));                                       // [B,Hkv,C]
  const int64_t n = order.size(2);
  ObservedTokens tokens;
  tokens.keys = gather_slots(cache.keys, order);
  tokens.positions = cache.positions.gather(2, order);
  tokens.resident = tokens.positions.ge(0);
  tokens.candidate = tokens.resident.logical_and(tokens.positions.le((latest_position - window_).view({rows, 1, 1})));

  // Causal attention of each buffered query over the resident tokens.
  const at::Tensor& queries = cache.aux.at(kQueries);                   // [B,Hkv,G,W,D]
  const at::Tensor& query_positions = cache.aux.at(kQueryPositions);    // [B,W]
  at::Tensor logits = at::matmul(queries, tokens.keys.unsqueeze(2).transpose(3, 4)).to(type) * softmax_scale;
  at::Tensor visible = tokens.resident.view({rows, n_kv, 1, 1, n})
                           .logical_and(tokens.positions.view({rows, n_kv, 1, 1, n})
                                            .le(query_positions.view({rows, 1, 1, window_, 1})));
  at::Tensor probs = at::softmax(logits.masked_fill(visible.logical_not(), -std::numeric_limits<double>::infinity()), -1);
  at::Tensor query_valid = query_positions.ge(0);                       // [B,W]
  probs = probs.masked_fill(query_valid.view({rows, 1, 1, window_, 1}).logical_not(), 0.0);
  at::Tensor n_queries = query_valid.sum(-1).to(type).view({rows, 1, 1});
  tokens.attention = probs.sum(3).mean(2) / n_queries;                  // [B,Hkv,N]

  at::Tensor sorted_scores = score_observed(tokens).to(type).masked_fill(tokens.candidate.logical_not(), 0.0);
  cache.scores.scatter_(2, order, sorted_scores);
  cache.aux[kScoredUpTo].copy_(latest_position);
}

at::Tensor ObservationWindowPolicy::pool_candidates(const at::Tensor& values, const at::Tensor& candidate,
                                                    int64_t kernel, Pooling pooling) {
  const auto shape = values.sizes().vec();
  const int64_t n = values.size(-1);
  if (pooling == Pooling::Average) {
    at::Tensor x = values.masked_fill(candidate.logical_not(), 0.0).reshape({-1, 1, n});
    return at::avg_pool1d(x, {kernel}, {1}, {kernel / 2}, /*ceil_mode=*/false, /*count_include_pad=*/true).reshape(shape);
  }
  at::Tensor x = values.masked_fill(candidate.logical_not(), -std::numeric_limits<double>::infinity()).reshape({-1, 1, n});
  return at::max_pool1d(x, {kernel}, {1}, {kernel / 2}).reshape(shape);
}

}  // namespace lil
