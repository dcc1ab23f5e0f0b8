#include "runtime/sampling.h"

#include <limits>

#include <ATen/ATen.h>

#include "core/error.h"

namespace lil {

void validate_sampling(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0)) fail_at("--temperature", "expected a value >= 0, got " + std::to_string(o.temperature));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) fail_at("--top-p", "expected a value in (0, 1], got " + std::to_string(o.top_p));
  if (o.top_k < 0) fail_at("--top-k", "expected a value >= 0, got " + std::to_string(o.top_k));
}

TokenChoice choose_tokens(const at::Tensor& logits, const SamplingOptions& options, const std::vector<double>& uniforms) {
  TokenChoice choice;
  at::Tensor log_probs = at::log_softmax(logits, -1);
  if (options.greedy()) {
    choice.tokens = logits.argmax(-1);
  } else {
    at::Tensor scaled = logits / options.temperature;
    auto sorted = scaled.sort(-1, /*descending=*/true);
    at::Tensor values = std::get<0>(sorted);
    at::Tensor indices = std::get<1>(sorted);
    if (options.top_k > 0 && options.top_k < values.size(-1)) {
      at::Tensor rank = at::arange(values.size(-1), values.options().dtype(at::kLong));
      values = values.masked_fill(rank.ge(options.top_k), -std::numeric_limits<float>::infinity());
    }
    at::Tensor probs = at::softmax(values, -1);
    if (options.top_p < 1.0) {
      // Keep the smallest prefix whose mass reaches top_p (the first token always stays).
      at::Tensor before = at::cumsum(probs, -1) - probs;
      probs = probs.masked_fill(before.ge(options.top_p), 0.0);
    }
    at::Tensor cdf = at::cumsum(probs, -1);
    at::Tensor total = cdf.select(-1, cdf.size(-1) - 1).unsqueeze(-1);
    at::Tensor u = at::tensor(std::vector<double>(uniforms.begin(), uniforms.end()), at::kDouble)
                       .to(cdf.options())
                       .unsqueeze(-1);
    at::Tensor position = at::searchsorted(cdf, u * total, /*out_int32=*/false, /*right=*/true);
    position = position.clamp_max(cdf.size(-1) - 1);
    choice.tokens = indices.gather(-1, position).squeeze(-1);
  }
  choice.logprobs = log_probs.gather(-1, choice.tokens.unsqueeze(-1)).squeeze(-1);
  return choice;
}

}  // namespace lil
