#include "policies/prompt_attention.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
constexpr int64_t kQueryChunk = 256;

// Causal attention probabilities of the prompt queries [begin, end) over the prompt keys [0, keys_end), keys_end
// >= end: [Hkv, G, end - begin, keys_end]. Keys before `begin` lie in no query's future, so only the block of
// keys [begin, keys_end) is masked.
at::Tensor causal_probs(const PrefillView& view, int64_t begin, int64_t end, int64_t keys_end) {
  const int64_t n_kv = view.keys.size(0), head_dim = view.keys.size(2);
  const int64_t group = view.queries.size(0) / n_kv;
  const auto type = score_dtype(view.keys.scalar_type());
  at::Tensor q = view.queries.slice(1, begin, end).reshape({n_kv, group, end - begin, head_dim});
  at::Tensor keys = view.keys.slice(1, 0, keys_end);
  at::Tensor logits = at::matmul(q, keys.unsqueeze(1).transpose(2, 3)).to(type).mul_(view.softmax_scale);
  const auto long_opts = view.keys.options().dtype(at::kLong);
  at::Tensor key_pos = at::arange(begin, keys_end, long_opts);
  at::Tensor query_pos = at::arange(begin, end, long_opts);
  at::Tensor future = key_pos.unsqueeze(0).gt(query_pos.unsqueeze(1));  // [n, keys_end - begin]
  logits.slice(3, begin, keys_end).masked_fill_(future, -std::numeric_limits<double>::infinity());
  return at::softmax(logits, -1);
}
}  // namespace

at::Tensor prompt_attention(const PrefillView& view, int64_t begin, int64_t end) {
  return causal_probs(view, begin, end, view.keys.size(1));
}

at::Tensor prompt_attention_received(const PrefillView& view) {
  // A chunk's queries see no key past its end: each chunk's scores stop there (half the work of the whole width).
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor total = at::zeros({view.keys.size(0), prompt_len}, view.keys.options().dtype(score_dtype(view.keys.scalar_type())));
  for (int64_t begin = 0; begin < prompt_len; begin += kQueryChunk) {
    const int64_t end = std::min(prompt_len, begin + kQueryChunk);
    total.slice(1, 0, end) += causal_probs(view, begin, end, end).sum({1, 2});
  }
  return total;
}

at::Tensor recent_window(const at::Tensor& positions, const at::Tensor& next_position, int64_t window) {
  at::Tensor oldest_kept = (next_position - window).view({-1, 1, 1});  // positions above this stay
  return positions.ge(0).logical_and(positions.gt(oldest_kept));
}

at::Tensor prompt_recent_window(const PrefillView& view, int64_t window) {
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor pos = at::arange(prompt_len, view.keys.options().dtype(at::kLong));
  return pos.ge(prompt_len - window).unsqueeze(0).expand({view.keys.size(0), prompt_len});
}

}  // namespace lil
