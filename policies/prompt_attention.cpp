#include "policies/prompt_attention.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
constexpr int64_t kQueryChunk = 256;

// The prompt queries [begin, end) of one row over its keys [0, keys_end): causal_attention_probs in the score
// dtype.
at::Tensor prompt_probs(const PrefillView& view, int64_t begin, int64_t end, int64_t keys_end) {
  const int64_t n_kv = view.keys.size(0), head_dim = view.keys.size(2);
  const int64_t group = view.queries.size(0) / n_kv;
  at::Tensor q = view.queries.slice(1, begin, end).reshape({n_kv, group, end - begin, head_dim});
  return causal_attention_probs(q, view.keys.slice(1, 0, keys_end), begin, view.softmax_scale,
                                score_dtype(view.keys.scalar_type()));
}
}  // namespace

at::Tensor causal_attention_probs(const at::Tensor& q, const at::Tensor& keys, int64_t begin, double scale,
                                  c10::ScalarType type) {
  const int64_t n = q.size(2), n_keys = keys.size(1);
  at::Tensor logits = at::matmul(q, keys.unsqueeze(1).transpose(2, 3)).to(type).mul_(scale);  // [Hkv, G, n, K]
  const auto long_opts = keys.options().dtype(at::kLong);
  at::Tensor key_pos = at::arange(begin, n_keys, long_opts);
  at::Tensor query_pos = at::arange(begin, begin + n, long_opts);
  at::Tensor future = key_pos.unsqueeze(0).gt(query_pos.unsqueeze(1));  // [n, K - begin]
  logits.slice(3, begin, n_keys).masked_fill_(future, -std::numeric_limits<double>::infinity());
  return at::softmax(logits, -1);
}

at::Tensor prompt_attention(const PrefillView& view, int64_t begin, int64_t end) {
  return prompt_probs(view, begin, end, view.keys.size(1));
}

at::Tensor prompt_attention_received(const PrefillView& view) {
  // A chunk's queries see no key past its end: each chunk's scores stop there (half the work of the whole width).
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor total = at::zeros({view.keys.size(0), prompt_len}, view.keys.options().dtype(score_dtype(view.keys.scalar_type())));
  for (int64_t begin = 0; begin < prompt_len; begin += kQueryChunk) {
    const int64_t end = std::min(prompt_len, begin + kQueryChunk);
    total.slice(1, 0, end) += prompt_probs(view, begin, end, end).sum({1, 2});
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
