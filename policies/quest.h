#pragma once
// Quest (Tang et al., ICML 2024, "Quest: Query-Aware Sparsity for Efficient Long-Context LLM Inference").
//
// Retention: every token stays in the cache (token p in slot p); each decode step attends to whole pages.
// Rule implemented, per (layer, row, KV head):
// - Page j holds slots [j * page_size, (j + 1) * page_size). Its metadata is the element-wise min and max of
//   the keys it holds, updated on every write.
// - Upper bound of page j for the current query: sum over the G query heads sharing the KV head of
//   sum_d max(q_d * min_jd, q_d * max_jd) (each head's term bounds its q.k over the page, so the sum bounds
//   the group's summed logit).
// - The page holding the token just written is always attended; the other pages are ranked by the bound and
//   the top ones are attended, budget / page_size pages in all (budget must be a multiple of page_size).
//   Empty pages are never attended; a context of at most `budget` tokens is attended in full.
// Deviation from the paper: Quest leaves the first two layers dense; here every layer keeps the budget (the
// budget is checked per layer).
// Knob: page_size (default 16, the paper's page size).
#include "policies/policy.h"

namespace lil {

class QuestPolicy final : public Policy {
 public:
  QuestPolicy(int64_t budget, int64_t page_size, const PolicyGeometry& geometry);
  std::string name() const override { return "quest"; }
  PolicyKind kind() const override { return PolicyKind::Retention; }
  void init_layer(LayerCache& cache) override;
  void after_prefill(LayerCache& cache, const PrefillView& view) override;
  void after_write(LayerCache& cache, const at::Tensor& slot) override;
  Selection select(LayerCache& cache, const at::Tensor& query, const at::Tensor& current_position) override;
  bool fused_pages(LayerCache& cache, FusedPages* pages) const override;
  int64_t selection_bytes(const LayerCache& cache) const override;

 private:
  int64_t page_size_;
};

}  // namespace lil
