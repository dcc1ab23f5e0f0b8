#pragma once
// The sparse-attention policy interface. A policy only SCORES KV entries; the shared code in
// src/runtime/kv_cache.cpp keeps the cache, writes new tokens, picks victims / top-k slots, attends, and
// counts what was resident and attended. Adding a policy = one file in policies/ + one line in
// policies/registry.cpp. The decode loop never names a concrete policy.
//
// Shapes (B = batch rows, Hkv = KV heads, G = query heads per KV head, C = slots per (row, KV head),
// D = head dim, T = prompt length). All per-step work is tensor ops with fixed shapes and no host reads,
// so a decode step can be captured in a CUDA graph.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace lil {

// Policy knobs from `--policy-arg key=value`. Every getter records the key as used; keys nobody asked for
// are reported by `check_all_used` (so a typo is an error, not a silently ignored knob).
class PolicyArgs {
 public:
  PolicyArgs() = default;
  explicit PolicyArgs(std::map<std::string, std::string> values, std::string flag = "--policy-arg")
      : values_(std::move(values)), flag_(std::move(flag)) {}
  int64_t get_int(const std::string& key, int64_t default_value, int64_t min_value, int64_t max_value);
  double get_double(const std::string& key, double default_value, double min_value, double max_value);
  std::string get_string(const std::string& key, const std::string& default_value, const std::set<std::string>& allowed);
  void check_all_used(const std::string& owner_name) const;
  std::string where(const std::string& key) const { return flag_ + " " + key; }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
  std::string flag_ = "--policy-arg";
  std::set<std::string> used_;
};

// What kind of cache a policy needs.
enum class PolicyKind {
  Full,       // every token resident and attended
  Eviction,   // at most `budget` tokens resident per (layer, row, KV head); dropped KV is gone for good
  Retention,  // every token resident; each step attends to at most `budget` selected tokens
};

// The dtype of attention probabilities and policy scores: float32, or float64 for a float64 model (so tests
// can follow a float64 reference decision for decision).
c10::ScalarType score_dtype(c10::ScalarType model_dtype);

// Rows of a per-slot tensor: per_slot [B, H, C, D], slots [B, H, K] int64 -> [B, H, K, D]. One row copy per
// slot (index_select on the flattened tensor), much faster than an element-wise gather on CPU.
at::Tensor gather_slots(const at::Tensor& per_slot, const at::Tensor& slots);

// LayerCache::aux key of the key sums InfLLM's fused GPU step keeps (make_block_sums in runtime/fast_decode.h).
inline constexpr char kBlockSumsAux[] = "fused_block_sums";

// One layer's cache. Slots are unordered: RoPE is applied before caching, so attention does not depend on
// where a token sits; `positions` says which token a slot holds.
struct LayerCache {
  int64_t layer = 0;
  int64_t decode_steps = 0;  // decode steps run on this layer so far (host counter, the same for every row)
  at::Tensor keys;       // [B, Hkv, C, D], model dtype
  at::Tensor values;     // [B, Hkv, C, D]
  at::Tensor positions;  // [B, Hkv, C] int64 token position in its sequence, -1 = empty slot
  at::Tensor scores;     // [B, Hkv, C] score dtype (float32, float64 for a float64 model), policy-defined; 0 when
                         // a slot is written
  std::map<std::string, at::Tensor> aux;  // policy-owned state (e.g. Quest page bounds); kBlockSumsAux: the cache's
                                          // (InfLLM's fused GPU step keeps its final blocks' key sums there)
  // Slots a decode step needs to look at: every slot at or past it is empty. The capacity C on devices that
  // need fixed shapes (CUDA graphs) and for eviction policies; on the CPU, for policies that fill slots in order
  // and never evict, (longest prompt + decode steps so far), set before each `select`.
  int64_t live_slots = 0;
};

// The tokens attended in one decode step: `slots` [B, Hkv, K] int64 indices into C, `valid` [B, Hkv, K]
// bool. When `slots` is undefined, all C slots are candidates and `valid` is [B, Hkv, C]. Invalid entries
// may hold any in-range slot; they are masked out of the attention and not counted as attended.
struct Selection {
  at::Tensor slots;
  at::Tensor valid;
};

// A dense prefill of one row, handed to the policy so it can decide what the decode stage starts from.
struct PrefillView {
  int64_t layer = 0;
  int64_t row = 0;
  const at::Tensor& queries;  // [Hq, T, D] after RoPE
  const at::Tensor& keys;     // [Hkv, T, D] after RoPE
  const at::Tensor& values;   // [Hkv, T, D]
  double softmax_scale = 1.0;
};

// What a decode step attended, handed to the policy afterwards.
struct DecodeStepView {
  const at::Tensor& query;     // [B, Hkv, G, D] after RoPE
  const at::Tensor& position;  // [B] int64, the position of the token written at this step
  const Selection& selection;
  const at::Tensor& probs;     // [B, Hkv, G, K] attention probabilities over the selection, score dtype
  double softmax_scale = 1.0;
};

// An eviction policy's decode step in the form the fused GPU kernels run it (src/kernels/decode_kernels.h,
// DecodeAttentionArgs): the victim is the first empty slot, else the unprotected slot with the lowest key (the
// oldest token among equal keys; the oldest token overall when every slot is protected), and after the
// attention the policy's scores take the step's probabilities. It must describe exactly what the policy's
// protected_slots / eviction_scores / after_attention compute: the GPU tests run both and compare.
struct FusedEviction {
  int64_t protect_below = 0;   // positions below this are never evicted (attention sinks)
  int64_t protect_recent = 0;  // positions p' > p - protect_recent are never evicted when p is written
  bool key_is_position = false;  // the key is the token's position (oldest first), else `scores`
  enum class Update { None, AddSum, SetMean };
  Update update = Update::None;  // scores += probabilities summed over the group / = their mean over it
};

// A retention policy that attends whole pages ranked by a bound on the query's logits (Quest), in the form the
// fused GPU kernels run it (kernels::QuestArgs): page j holds slots [j page_size, (j + 1) page_size), its
// element-wise key min/max live in page_min/page_max [B, Hkv, P, D] (model dtype; an empty page's max is
// -inf), the bound is the sum over the group's query heads of sum_d max(q_d min_d, q_d max_d), the page being
// written is always attended, and the top budget / page_size pages are (the earlier page among equal bounds).
struct FusedPages {
  int64_t page_size = 0;
  at::Tensor page_min, page_max;
};

// A retention policy that attends initial tokens, a local window and whole memory blocks ranked by
// representative keys (InfLLM), in the form the fused GPU kernels run it (kernels::InfLLMArgs): slots
// [0, n_sink) and the last `local` positions are attended; memory block j holds slots [n_sink + j block_size,
// + block_size) and is a candidate when it starts before the local window; its representatives are the `reps`
// tokens before the window with the highest `scores` (the lower slot among equal scores); its relevance is the
// sum over them and the group's query heads of q . k; the top n_blocks candidates are attended (their tokens
// before the window; the earlier block among equal relevances); then each token the query follows by at most
// `local` adds the group's q . k to its score.
struct FusedBlocks {
  int64_t n_sink = 0, local = 0, block_size = 0, reps = 0, n_blocks = 0;
};

struct PolicyGeometry {
  int64_t n_layers = 0;
  int64_t n_kv_heads = 0;
  int64_t n_q_heads = 0;
  int64_t head_dim = 0;
};

class Policy {
 public:
  Policy(int64_t budget, PolicyGeometry geometry) : budget_(budget), geometry_(geometry) {}
  virtual ~Policy() = default;

  virtual std::string name() const = 0;
  virtual PolicyKind kind() const = 0;
  int64_t budget() const { return budget_; }  // KV tokens attended per (layer, row, KV head); <= 0 for full
  const PolicyGeometry& geometry() const { return geometry_; }

  // Slots per (row, KV head) for a sequence that can reach `max_context` tokens.
  virtual int64_t capacity(int64_t max_context) const;

  // Decode steps whose work differs by a host-side branch on the step number (1-based, as
  // LayerCache::decode_steps counts it) return different variants: a CUDA graph is captured per variant
  // (src/runtime/decode_graph.h). Default: every step is the same.
  virtual int64_t graph_variant(int64_t /*decode_step*/) const { return 0; }

  // Allocate policy-owned state (`aux`) once the cache tensors exist.
  virtual void init_layer(LayerCache& /*cache*/) {}

  // ---- Eviction policies ----
  // Score of each prompt token after the dense prefill of one row: [Hkv, T], higher = keep. The shared
  // pruner keeps the protected tokens plus the top scores up to the capacity (ties keep the earlier token)
  // and seeds the kept slots' `scores` with these values, so they must be finite.
  virtual at::Tensor prefill_scores(const PrefillView& view);
  // Prompt tokens the pruner must keep whatever their score: [Hkv, T] bool. Default: none.
  virtual at::Tensor prefill_protected(const PrefillView& view);
  // Tokens that must not be evicted now (e.g. attention sinks, the recent window): [B, Hkv, C] bool.
  // `next_position` [B] is the position of the token about to be written.
  virtual at::Tensor protected_slots(const LayerCache& cache, const at::Tensor& next_position);
  // Score of each resident slot when choosing a victim: the lowest among unprotected slots is evicted, the
  // oldest token among equal lowest scores: [B, Hkv, C].
  virtual at::Tensor eviction_scores(const LayerCache& cache) { return cache.scores; }
  // The same decode-step rule for the fused GPU kernels, when the policy's rule has that form; false (the
  // default) keeps the policy on the shared ATen step.
  virtual bool fused_eviction(FusedEviction* /*rule*/) const { return false; }

  // ---- Retention policies ----
  // The policy's selection for the fused GPU kernels, when it has that form (see FusedPages); false (the
  // default) keeps the policy on the shared ATen step.
  virtual bool fused_pages(LayerCache& /*cache*/, FusedPages* /*pages*/) const { return false; }
  // The same for block selection (see FusedBlocks).
  virtual bool fused_blocks(FusedBlocks* /*rule*/) const { return false; }
  // Which slots the query attends to. `query` [B, Hkv, G, D]. Default: all valid slots.
  virtual Selection select(LayerCache& cache, const at::Tensor& query, const at::Tensor& current_position);

  // ---- All policies ----
  // Bytes of policy state one decode step reads per row in one layer to decide what to keep or attend,
  // besides the attended KV (counted by the cache): for an eviction policy the slots' positions and scores (the
  // victim scan), for Quest every page's key min/max, for InfLLM positions, scores and the representative
  // keys (on its fused GPU step the kept key sums). Part of the bytes a step must read (`lil bench`'s floor).
  // Default: the eviction scan, or nothing.
  virtual int64_t selection_bytes(const LayerCache& cache) const;
  // Called once the prefill of `view.row` is stored (and, for eviction policies, pruned).
  virtual void after_prefill(LayerCache& /*cache*/, const PrefillView& /*view*/) {}
  // Called after a decode step wrote the new token's K/V to `slot` [B, Hkv], before attention. Retention
  // policies keep their metadata (e.g. page bounds) here.
  virtual void after_write(LayerCache& /*cache*/, const at::Tensor& /*slot*/) {}
  // Called after the attention of a decode step (H2O/TOVA update `scores` here).
  virtual void after_attention(LayerCache& /*cache*/, const DecodeStepView& /*step*/) {}

 protected:
  int64_t budget_;
  PolicyGeometry geometry_;
};

// ---- Registry ----
struct PolicyInfo {
  std::string name;
  std::string summary;   // one line, with the source paper
  std::string knobs;     // "key=default: meaning; ..."
  std::function<std::unique_ptr<Policy>(int64_t budget, PolicyArgs& args, const PolicyGeometry& geometry)> make;
};
const std::vector<PolicyInfo>& policy_registry();
// Validates the name, budget and knobs (LilError naming the flag and what was expected).
std::unique_ptr<Policy> make_policy(const std::string& name, int64_t budget,
                                    const std::map<std::string, std::string>& args, const PolicyGeometry& geometry);

}  // namespace lil
