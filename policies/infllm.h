#pragma once
// InfLLM (Xiao et al., NeurIPS 2024, "InfLLM: Training-Free Long-Context Extrapolation for LLMs with an
// Efficient Context Memory").
//
// Retention: every token stays in the cache (token p in slot p). Rule implemented, per (layer, row, KV
// head), for the query at position p:
// - Attended = the first `n_sink` tokens (initial tokens) + the local window of the last L tokens
//   (positions p-L+1 .. p) + the top `n_blocks` memory blocks, where
//   n_blocks = floor((budget - n_sink - local) / block_size) and L = budget - n_sink - n_blocks * block_size
//   (the `local` knob is the least local window; what the blocks leave over widens it), so at most
//   `budget` tokens are attended and a context of at most `budget` tokens is attended in full.
// - Memory block j holds positions [n_sink + j * block_size, n_sink + (j + 1) * block_size). A block is a
//   candidate once it starts before the local window; its tokens inside the local window are attended as
//   local tokens, not twice.
// - Representative score of token m (the paper's r_m, without its constant 1/L): the sum of q_i . k_m over
//   the queries i = m+1 .. m+L that follow it (the prefill adds the prompt's, each decode step adds its own),
//   summed over the G query heads sharing the KV head. A block's representative keys are the `reps` tokens
//   with the highest representative score among its tokens before the local window.
// - Block relevance = sum over the G query heads and the block's representative keys of q . k (raw dot
//   products, as the paper's retrieval); the top `n_blocks` candidate blocks are attended.
// Knobs: n_sink=4, local=budget/4, block_size=32, reps=4 (InfLLM uses 128 initial tokens, 128-token blocks
// and 4 representatives at budgets of thousands; these scale it to budgets of 128..1024).
#include "policies/policy.h"

namespace lil {

class InfLLMPolicy final : public Policy {
 public:
  InfLLMPolicy(int64_t budget, int64_t n_sink, int64_t local, int64_t block_size, int64_t reps,
               const PolicyGeometry& geometry);
  std::string name() const override { return "infllm"; }
  PolicyKind kind() const override { return PolicyKind::Retention; }
  void after_prefill(LayerCache& cache, const PrefillView& view) override;
  Selection select(LayerCache& cache, const at::Tensor& query, const at::Tensor& current_position) override;
  void after_attention(LayerCache& cache, const DecodeStepView& step) override;
  int64_t selection_bytes(const LayerCache& cache) const override;
  bool fused_blocks(FusedBlocks* rule) const override;

  int64_t local_window() const { return local_; }
  int64_t memory_blocks() const { return n_blocks_; }

 private:
  int64_t n_sink_;
  int64_t block_size_;
  int64_t reps_;
  int64_t n_blocks_;
  int64_t local_;  // effective local window L
};

}  // namespace lil
