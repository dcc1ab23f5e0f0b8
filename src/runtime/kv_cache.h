#pragma once
// The KV cache shared by every policy: per-layer slot tensors, prefill storage (with the shared pruner for
// eviction policies), and the decode-step attention (write the new token, select, attend, let the policy
// observe). It also counts, per decode step and row, how many KV entries were resident and attended, so the
// budget a policy claims is checked rather than trusted.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "policies/policy.h"

namespace lil {

// A policy that attended more KV entries than its budget: the run is invalid, not a data point.
class BudgetViolation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CacheShape {
  int64_t rows = 1;         // batch rows
  int64_t n_layers = 0;
  int64_t n_kv_heads = 0;
  int64_t n_q_heads = 0;
  int64_t head_dim = 0;
  int64_t max_context = 0;  // prompt + new tokens of the longest row
};

// Per-row summary of what the policy did over the decode steps that row was active.
struct KVStepStats {
  int64_t steps = 0;
  int64_t attended_max = 0;     // max over steps, layers and KV heads
  double attended_mean = 0;     // mean over steps of the per-step max over layers/heads
  int64_t resident_max = 0;
  double resident_mean = 0;
  int64_t resident_bytes_peak = 0;   // resident_max tokens x layers x KV heads x head_dim x 2 (K and V) x elsize
  double attended_bytes_mean = 0;    // KV bytes read per step (attended entries), mean over steps
  int64_t selection_bytes = 0;       // policy state read per step to choose them, all layers (Policy::selection_bytes)
};

class KVCache {
 public:
  KVCache(std::unique_ptr<Policy> policy, const CacheShape& shape, c10::ScalarType dtype, c10::Device device);

  Policy& policy() { return *policy_; }
  const CacheShape& shape() const { return shape_; }
  int64_t capacity() const { return capacity_; }
  // Bytes held by the K/V slot tensors of all layers (what the cache really allocated).
  int64_t allocated_bytes() const;

  // Stores the dense prefill of one row for `layer` (q: [Hq,T,D], k/v: [Hkv,T,D], after RoPE). Eviction
  // policies keep at most `capacity` tokens per KV head, chosen by the policy's prefill scores.
  void store_prefill(int64_t layer, int64_t row, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     double softmax_scale);

  // One decode step for all rows: q [B,Hq,D], k/v [B,Hkv,D], position [B] (int64, on the cache's device)
  // -> attention output [B,Hq,D].
  at::Tensor decode_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& position, double softmax_scale);

  // True when the decode step can take the fused kernels (CUDA, supported head_dim and query heads per KV
  // head): the `full` policy (slot i of a row holds position i), eviction policies whose rule has the
  // kernels' form (Policy::fused_eviction: sink, h2o, tova), page selection (Policy::fused_pages: quest) and block
  // selection (Policy::fused_blocks: infllm).
  bool fused_attention() const { return fused_ != FusedPath::None; }
  // The decode step for `layer` in fused kernels: RoPE of the fused projection qkv [B, (Hq + 2 Hkv) D] with
  // the model's tables cos/sin [P, D], the write of the token (slot position[b] for `full`, the policy's victim
  // otherwise), attention over the resident slots -> [B, Hq, D]; the policy's slot positions and scores are
  // left as decode_attention leaves them. Counts like decode_attention.
  at::Tensor decode_fused(int64_t layer, const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                          const at::Tensor& position, double softmax_scale);

  // Marks the end of a decode step: keeps this step's attended/resident counts (device tensors, read later).
  void end_step();
  // Summaries per row over the steps where `active[step][row]` was true. Throws BudgetViolation when a
  // sparse policy attended more than its budget.
  std::vector<KVStepStats> summarize(const std::vector<std::vector<bool>>& active) const;

  LayerCache& layer(int64_t index) { return layers_[static_cast<size_t>(index)]; }

 private:
  std::unique_ptr<Policy> policy_;
  CacheShape shape_;
  int64_t capacity_ = 0;
  int64_t prefill_max_ = 0;  // most prompt tokens stored for any row (host counter)
  c10::ScalarType dtype_;
  c10::Device device_;
  std::vector<LayerCache> layers_;
  enum class FusedPath { None, Full, Eviction, Pages, Blocks };
  FusedPath fused_ = FusedPath::None;
  FusedEviction eviction_rule_;
  FusedBlocks blocks_rule_;
  int64_t fused_pages_ = 0;  // pages each Quest step attends
  at::Tensor attention_scratch_;  // float32 scratch of the fused split attention
  // Per-step counters are updated in place, so a decode step captured in a CUDA graph keeps writing the
  // tensors end_step() reads.
  at::Tensor step_attended_;   // [B] max over layers/heads in the current step
  at::Tensor step_resident_;   // [B]
  std::vector<at::Tensor> attended_history_;
  std::vector<at::Tensor> resident_history_;
};

}  // namespace lil
