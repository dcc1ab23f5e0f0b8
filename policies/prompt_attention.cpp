#include "policies/prompt_attention.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
constexpr int64_t kQueryChunk = 256;
}  // namespace

at::Tensor prompt_attention(const PrefillView& view, int64_t begin, int64_t end) {
  const int64_t n_kv = view.keys.size(0), prompt_len = view.keys.size(1), head_dim = view.keys.size(2);
  const int64_t group = view.queries.size(0) / n_kv;
  const auto type = score_dtype(view.keys.scalar_type());
  at::Tensor q = view.queries.slice(1, begin, end).reshape({n_kv, group, end - begin, head_dim});
  at::Tensor logits = at::matmul(q, view.keys.unsqueeze(1).transpose(2, 3)).to(type) * view.softmax_scale;
  const auto long_opts = view.keys.options().dtype(at::kLong);
  at::Tensor key_pos = at::arange(prompt_len, long_opts);
  at::Tensor query_pos = at::arange(begin, end, long_opts);
  at::Tensor future = key_pos.unsqueeze(0).gt(query_pos.unsqueeze(1));  // [n, T]
  return at::softmax(logits.masked_fill(future, -std::numeric_limits<double>::infinity()), -1);
}

at::Tensor prompt_attention_received(const PrefillView& view) {
  const int64_t prompt_len = view.keys.size(1);
  at::Tensor total = at::zeros({view.keys.size(0), prompt_len}, view.keys.options().dtype(score_dtype(view.keys.scalar_type())));
  for (int64_t begin = 0; begin < prompt_len; begin += kQueryChunk) {
    const int64_t end = std::min(prompt_len, begin + kQueryChunk);
    total += prompt_attention(view, begin, end).sum({1, 2});
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
