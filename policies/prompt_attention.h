#pragma once
// Attention statistics of the dense prefill that several policies score prompt tokens with (H2O, TOVA,
// SnapKV, R-KV), and the recent-window rule that several protect tokens with. Plain tensor ops; prefill only
// (except `recent_window`), so host-side chunk loops are fine here.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "policies/policy.h"

namespace lil {

// Causal attention probabilities of queries q [Hkv, G, n, D] at positions [begin, begin + n) over keys
// [Hkv, K, D] at positions [0, K), K >= begin + n: the scores q.k in q's dtype, then in `type` times `scale`,
// the future masked, softmax -> [Hkv, G, n, K] in `type`. Keys before `begin` lie in no query's future, so only
// the block of keys from `begin` on is masked. The dense prefill (CausalLM) and the policies' prompt statistics
// below share it.
at::Tensor causal_attention_probs(const at::Tensor& q, const at::Tensor& keys, int64_t begin, double scale,
                                  c10::ScalarType type);

// Causal attention probabilities of the prompt queries [begin, end) over the whole prompt of one row:
// [Hkv, G, end - begin, T] in the score dtype (logits in the model dtype, as the prefill computes them).
at::Tensor prompt_attention(const PrefillView& view, int64_t begin, int64_t end);

// Attention mass each prompt token receives from every prompt query, summed over the G query heads that
// share its KV head: [Hkv, T] in the score dtype. Chunked over queries so memory stays O(chunk x T).
at::Tensor prompt_attention_received(const PrefillView& view);

// Resident slots that hold one of the `window - 1` tokens before `next_position` [B], i.e. the slots that
// together with the token about to be written form the `window` most recent tokens: [B, Hkv, C] bool.
at::Tensor recent_window(const at::Tensor& positions, const at::Tensor& next_position, int64_t window);

// Prompt tokens in the `window` most recent positions: [Hkv, T] bool.
at::Tensor prompt_recent_window(const PrefillView& view, int64_t window);

}  // namespace lil
