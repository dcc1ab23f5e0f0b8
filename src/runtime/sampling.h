#pragma once
// Next-token choice on the device. Greedy is argmax (first index on ties, as torch). Sampling applies
// temperature, top-k and top-p, then inverts the CDF at a uniform number drawn on the host from a per-request
// std::mt19937_64 (so a seed gives the same tokens on CPU and GPU, and no device generator is needed).
#include <cstdint>
#include <random>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lil {

struct SamplingOptions {
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
  int64_t top_k = 0;         // 0 = off
  uint64_t seed = 0;
  bool greedy() const { return temperature <= 0.0; }
};

// Validates ranges; LilError naming the flag.
void validate_sampling(const SamplingOptions& options);

struct TokenChoice {
  at::Tensor tokens;    // [B] int64
  at::Tensor logprobs;  // [B] float32: log-softmax of the raw logits at the chosen token
};

// logits [B, V] float32. `uniforms` has one draw per row (ignored when greedy).
TokenChoice choose_tokens(const at::Tensor& logits, const SamplingOptions& options, const std::vector<double>& uniforms);

}  // namespace lil
