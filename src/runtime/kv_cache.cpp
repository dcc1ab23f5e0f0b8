#include "runtime/kv_cache.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "core/error.h"
#include "runtime/fast_decode.h"

namespace lil {

KVCache::KVCache(std::unique_ptr<Policy> policy, const CacheShape& shape, c10::ScalarType dtype, c10::Device device)
    : policy_(std::move(policy)), shape_(shape), dtype_(dtype), device_(device) {
  capacity_ = std::max<int64_t>(1, std::min(policy_->capacity(shape.max_context), shape.max_context));
  const auto float_opts = at::TensorOptions().dtype(dtype).device(device);
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device);
  layers_.resize(static_cast<size_t>(shape.n_layers));
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    LayerCache& c = layers_[static_cast<size_t>(l)];
    c.layer = l;
    c.keys = at::zeros({shape.rows, shape.n_kv_heads, capacity_, shape.head_dim}, float_opts);
    c.values = at::zeros({shape.rows, shape.n_kv_heads, capacity_, shape.head_dim}, float_opts);
    c.positions = at::full({shape.rows, shape.n_kv_heads, capacity_}, -1, long_opts);
    c.scores = at::zeros({shape.rows, shape.n_kv_heads, capacity_}, float_opts.dtype(score_dtype(dtype)));
    policy_->init_layer(c);
  }
  step_attended_ = at::zeros({shape.rows}, long_opts);
  step_resident_ = at::zeros({shape.rows}, long_opts);
  const bool fused_shape = shape.n_layers > 0 && shape.n_q_heads % shape.n_kv_heads == 0 &&
                           fused_full_attention_supported(layers_[0].keys, shape.head_dim,
                                                          shape.n_q_heads / shape.n_kv_heads);
  if (fused_shape && policy_->kind() == PolicyKind::Full) fused_ = FusedPath::Full;
  if (fused_shape && policy_->kind() == PolicyKind::Eviction && policy_->fused_eviction(&eviction_rule_) &&
      layers_[0].scores.scalar_type() == at::kFloat) {
    fused_ = FusedPath::Eviction;
  }
  FusedPages pages;
  if (fused_shape && policy_->kind() == PolicyKind::Retention && policy_->fused_pages(layers_[0], &pages) &&
      pages.page_size > 0 && policy_->budget() >= pages.page_size && fused_pages_supported(pages.page_min.size(2))) {
    fused_ = FusedPath::Pages;
    fused_pages_ = std::min(policy_->budget() / pages.page_size, pages.page_min.size(2));
  }
  if (fused_shape && policy_->kind() == PolicyKind::Retention && policy_->fused_blocks(&blocks_rule_) &&
      layers_[0].scores.scalar_type() == at::kFloat && fused_blocks_supported(capacity_, blocks_rule_)) {
    fused_ = FusedPath::Blocks;
    for (auto& c : layers_) c.aux[kBlockSumsAux] = make_block_sums(c, blocks_rule_);
  }
  if (fused_ != FusedPath::None) {
    int64_t chunk = 0;
    const int64_t splits = decode_attention_splits(shape.rows, shape.n_kv_heads, capacity_, &chunk);
    int64_t floats = 0;
    if (fused_ == FusedPath::Full) {
      floats = decode_attention_scratch(shape.rows, shape.n_q_heads, shape.head_dim, splits);
    } else if (fused_ == FusedPath::Eviction) {
      floats = decode_eviction_scratch(shape.rows, shape.n_q_heads, shape.n_kv_heads, shape.head_dim, capacity_, splits);
    } else if (fused_ == FusedPath::Pages) {
      floats = decode_pages_scratch(shape.rows, shape.n_q_heads, shape.n_kv_heads, shape.head_dim,
                                    pages.page_min.size(2), fused_pages_, pages.page_size);
    } else {
      floats = decode_blocks_scratch(shape.rows, shape.n_q_heads, shape.n_kv_heads, shape.head_dim, capacity_,
                                     blocks_rule_);
    }
    attention_scratch_ = at::empty({floats}, float_opts.dtype(at::kFloat));
  }
}

int64_t KVCache::allocated_bytes() const {
  int64_t total = 0;
  for (const auto& c : layers_) total += static_cast<int64_t>(c.keys.nbytes() + c.values.nbytes());
  return total;
}

void KVCache::store_prefill(int64_t layer, int64_t row, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double softmax_scale) {
  LayerCache& c = layers_[static_cast<size_t>(layer)];
  const int64_t prompt_len = k.size(1);
  const PrefillView view{layer, row, q, k, v, softmax_scale};
  const auto long_opts = at::TensorOptions().dtype(at::kLong).device(device_);
  at::Tensor keep;         // [Hkv, n] prompt positions kept, ascending
  at::Tensor keep_scores;  // [Hkv, n]
  if (policy_->kind() == PolicyKind::Eviction) {
    at::Tensor scores = policy_->prefill_scores(view).to(c.scores.scalar_type());  // [Hkv, T]
    if (prompt_len > capacity_) {
      at::Tensor rank = scores.masked_fill(policy_->prefill_protected(view), std::numeric_limits<double>::infinity());
      // A stable descending sort keeps the earlier token among equal scores, so the kept set is fully
      // determined by the policy's rule (a reference implementation can reproduce it exactly).
      at::Tensor by_rank = std::get<1>(rank.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/true));
      keep = std::get<0>(by_rank.slice(1, 0, capacity_).sort(-1));
      keep_scores = scores.gather(1, keep);
    } else {
      keep = at::arange(prompt_len, long_opts).unsqueeze(0).expand({k.size(0), prompt_len});
      keep_scores = scores;
    }
  } else {
    if (prompt_len > capacity_) {
      throw LilError("prompt of " + std::to_string(prompt_len) + " tokens does not fit a KV cache of " +
                     std::to_string(capacity_) + " slots");
    }
    keep = at::arange(prompt_len, long_opts).unsqueeze(0).expand({k.size(0), prompt_len});
    keep_scores = at::zeros({k.size(0), prompt_len}, c.scores.options());
  }
  const int64_t n = keep.size(1);
  prefill_max_ = std::max(prefill_max_, n);
  const int64_t head_dim = k.size(2);
  auto idx = keep.unsqueeze(-1).expand({keep.size(0), n, head_dim});
  c.keys[row].slice(1, 0, n).copy_(k.gather(1, idx));
  c.values[row].slice(1, 0, n).copy_(v.gather(1, idx));
  c.positions[row].fill_(-1);
  c.positions[row].slice(1, 0, n).copy_(keep);
  c.scores[row].zero_();
  c.scores[row].slice(1, 0, n).copy_(keep_scores);
  policy_->after_prefill(c, view);
  if (fused_ == FusedPath::Blocks) prefill_block_sums(c.aux.at(kBlockSumsAux), c, row, n, blocks_rule_);
}

at::Tensor KVCache::decode_attention(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& position, double softmax_scale) {
  LayerCache& c = layers_[static_cast<size_t>(layer)];
  c.decode_steps += 1;
  const int64_t rows = q.size(0);
  const int64_t n_kv = shape_.n_kv_heads;
  const int64_t group = shape_.n_q_heads / n_kv;
  const int64_t head_dim = shape_.head_dim;
  const auto score_type = c.scores.scalar_type();

  // 1. Where the new token goes: the first empty slot, else (eviction) the unprotected slot with the
  //    lowest score, the oldest token among equal lowest scores. Fixed shapes, no host reads.
  at::Tensor empty = c.positions.lt(0);                                   // [B,Hkv,C]
  at::Tensor first_empty = empty.to(at::kByte).argmax(-1);                // [B,Hkv]
  at::Tensor has_empty = empty.any(-1);
  at::Tensor slot = first_empty;
  if (policy_->kind() == PolicyKind::Eviction) {
    at::Tensor prot = policy_->protected_slots(c, position);
    at::Tensor eff = policy_->eviction_scores(c).to(score_type).masked_fill(prot.logical_or(empty),
                                                                           std::numeric_limits<double>::infinity());
    at::Tensor lowest = eff.amin(-1, /*keepdim=*/true);
    at::Tensor age = c.positions.masked_fill(eff.ne(lowest), std::numeric_limits<int64_t>::max());
    at::Tensor victim = age.argmin(-1);
    slot = at::where(has_empty, first_empty, victim);
  }
  auto slot3 = slot.unsqueeze(-1);                                        // [B,Hkv,1]
  auto slot4 = slot3.unsqueeze(-1).expand({rows, n_kv, 1, head_dim});
  c.keys.scatter_(2, slot4, k.unsqueeze(2).to(c.keys.scalar_type()));
  c.values.scatter_(2, slot4, v.unsqueeze(2).to(c.values.scalar_type()));
  c.positions.scatter_(2, slot3, position.view({rows, 1, 1}).expand({rows, n_kv, 1}));
  c.scores.scatter_(2, slot3, at::zeros({rows, n_kv, 1}, c.scores.options()));
  policy_->after_write(c, slot);

  // 2. Which slots to attend. On the CPU (no graph capture: shapes may change per step) a policy that never
  //    evicts has no slot in use past (longest prompt + decode steps), so only that prefix is looked at.
  const bool in_order = policy_->kind() != PolicyKind::Eviction;
  const int64_t live = device_.is_cpu() && in_order ? std::min(capacity_, prefill_max_ + c.decode_steps) : capacity_;
  c.live_slots = live;
  at::Tensor query = q.view({rows, n_kv, group, head_dim});
  Selection sel = policy_->select(c, query, position);
  at::Tensor keys = c.keys;
  at::Tensor values = c.values;
  at::Tensor mask = sel.valid;  // which of `keys` the query attends
  bool dense_selection = false;
  if (sel.slots.defined() && device_.is_cpu() && in_order) {
    // A retention policy's selection on the CPU: attend over the live slots with the selection as a mask
    // instead of gathering the selected rows (one row copy per slot dominates the CPU step otherwise). The same
    // tokens are attended (a valid selected slot holds a token, so it is below `live`; the selection has no
    // duplicates); the probabilities handed to the policy are read back at the selected slots.
    at::Tensor target = at::where(sel.valid.logical_and(sel.slots.lt(live)), sel.slots, at::full_like(sel.slots, live));
    mask = at::zeros({rows, n_kv, live + 1}, sel.valid.options()).scatter_(2, target, true).slice(2, 0, live);
    keys = keys.slice(2, 0, live);
    values = values.slice(2, 0, live);
    dense_selection = true;
  } else if (sel.slots.defined()) {
    keys = gather_slots(c.keys, sel.slots);
    values = gather_slots(c.values, sel.slots);
  } else if (live < capacity_) {
    keys = keys.slice(2, 0, live);
    values = values.slice(2, 0, live);
    mask = mask.slice(-1, 0, live);
  }
  // 3. Attend: logits in the model dtype (as HF), softmax in the score dtype (float32, or float64 for a
  //    float64 model so tests can compare with a float64 reference decision for decision).
  at::Tensor logits = at::matmul(query, keys.transpose(2, 3)).to(score_type) * softmax_scale;  // [B,Hkv,G,K]
  logits = logits.masked_fill(mask.logical_not().unsqueeze(2), -std::numeric_limits<double>::infinity());
  at::Tensor probs = at::softmax(logits, -1);
  at::Tensor out = at::matmul(probs.to(values.scalar_type()), values);  // [B,Hkv,G,D]
  if (dense_selection) {
    const int64_t k = sel.slots.size(2);
    probs = probs.gather(3, sel.slots.clamp_max(live - 1).unsqueeze(2).expand({rows, n_kv, group, k}))
                .masked_fill(sel.valid.logical_not().unsqueeze(2), 0.0);
  }
  policy_->after_attention(c, DecodeStepView{query, position, sel, probs, softmax_scale});

  // 4. Count what was attended and resident (max over KV heads, then over layers).
  at::Tensor attended = sel.valid.sum(-1).amax(-1);                      // [B]
  at::Tensor resident = c.positions.ge(0).sum(-1).amax(-1);
  step_attended_.copy_(at::maximum(step_attended_, attended));
  step_resident_.copy_(at::maximum(step_resident_, resident));
  return out.reshape({rows, shape_.n_q_heads, head_dim});
}

at::Tensor KVCache::decode_fused(int64_t layer, const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                 const at::Tensor& position, double softmax_scale) {
  if (fused_ == FusedPath::None) throw std::logic_error("KVCache::decode_fused: the cache has no fused path");
  LayerCache& c = layers_[static_cast<size_t>(layer)];
  c.decode_steps += 1;
  if (fused_ == FusedPath::Full) {
    at::Tensor out = fused_full_decode(qkv, cos, sin, position, c.keys, c.values, c.positions, attention_scratch_,
                                       shape_.n_q_heads, softmax_scale);
    if (layer == 0) {
      // Slots [0, position] are resident and attended, in every layer and KV head alike.
      at::Tensor filled = at::clamp_max(position + 1, capacity_);
      step_attended_.copy_(at::maximum(step_attended_, filled));
      step_resident_.copy_(at::maximum(step_resident_, filled));
    }
    return out;
  }
  if (fused_ == FusedPath::Pages || fused_ == FusedPath::Blocks) {
    // The kernels keep the step's attended maximum over KV heads and layers in step_attended_ themselves.
    at::Tensor out;
    if (fused_ == FusedPath::Pages) {
      FusedPages pages;
      policy_->fused_pages(c, &pages);
      out = fused_pages_decode(qkv, cos, sin, position, c.keys, c.values, c.positions, pages.page_min, pages.page_max,
                               pages.page_size, fused_pages_, attention_scratch_, shape_.n_q_heads, softmax_scale,
                               nullptr, step_attended_);
    } else {
      out = fused_blocks_decode(qkv, cos, sin, position, c.keys, c.values, c.positions, c.scores,
                                c.aux.at(kBlockSumsAux), blocks_rule_, attention_scratch_, shape_.n_q_heads,
                                softmax_scale, nullptr, step_attended_);
    }
    if (layer == 0) {
      // A retention cache keeps every token (slot p holds position p): slots [0, position] are resident in every
      // layer and KV head alike.
      step_resident_.copy_(at::maximum(step_resident_, at::clamp_max(position + 1, capacity_)));
    }
    return out;
  }
  at::Tensor out = fused_eviction_decode(qkv, cos, sin, position, c.keys, c.values, c.positions, c.scores,
                                         eviction_rule_, attention_scratch_, shape_.n_q_heads, softmax_scale);
  if (layer == 0) {
    // Every valid slot is attended (the default selection of eviction policies); the prefill keeps the same
    // number of tokens in every layer and KV head and each step fills or replaces one, so layer 0 stands for
    // all of them.
    at::Tensor resident = c.positions.ge(0).sum(-1).amax(-1);
    step_attended_.copy_(at::maximum(step_attended_, resident));
    step_resident_.copy_(at::maximum(step_resident_, resident));
  }
  return out;
}

void KVCache::end_step() {
  attended_history_.push_back(step_attended_.clone());
  resident_history_.push_back(step_resident_.clone());
  step_attended_.zero_();
  step_resident_.zero_();
}

std::vector<KVStepStats> KVCache::summarize(const std::vector<std::vector<bool>>& active) const {
  std::vector<KVStepStats> out(static_cast<size_t>(shape_.rows));
  if (attended_history_.empty()) return out;
  at::Tensor attended = at::stack(attended_history_).cpu();  // [S,B]
  at::Tensor resident = at::stack(resident_history_).cpu();
  auto a = attended.accessor<int64_t, 2>();
  auto r = resident.accessor<int64_t, 2>();
  const int64_t bytes_per_token =
      shape_.n_layers * shape_.n_kv_heads * shape_.head_dim * 2 * static_cast<int64_t>(c10::elementSize(dtype_));
  const int64_t budget = policy_->budget();
  const bool sparse = policy_->kind() != PolicyKind::Full;
  // The policy's selection state per row (the same for every row): asked of each layer once, not once per row.
  int64_t selection_bytes = 0;
  for (const auto& c : layers_) selection_bytes += policy_->selection_bytes(c);
  for (int64_t b = 0; b < shape_.rows; ++b) {
    KVStepStats& s = out[static_cast<size_t>(b)];
    double attended_sum = 0, resident_sum = 0;
    for (int64_t step = 0; step < attended.size(0); ++step) {
      if (static_cast<size_t>(step) >= active.size() || !active[static_cast<size_t>(step)][static_cast<size_t>(b)]) continue;
      const int64_t att = a[step][b];
      const int64_t res = r[step][b];
      if (sparse && att > budget) {
        throw BudgetViolation("policy '" + policy_->name() + "' attended " + std::to_string(att) +
                              " KV entries at decode step " + std::to_string(step) + " of row " + std::to_string(b) +
                              ", above its budget of " + std::to_string(budget));
      }
      s.steps += 1;
      s.attended_max = std::max(s.attended_max, att);
      s.resident_max = std::max(s.resident_max, res);
      attended_sum += static_cast<double>(att);
      resident_sum += static_cast<double>(res);
    }
    if (s.steps > 0) {
      s.attended_mean = attended_sum / static_cast<double>(s.steps);
      s.resident_mean = resident_sum / static_cast<double>(s.steps);
    }
    s.resident_bytes_peak = s.resident_max * bytes_per_token;
    s.attended_bytes_mean = s.attended_mean * static_cast<double>(bytes_per_token);
    s.selection_bytes = selection_bytes;
  }
  return out;
}

}  // namespace lil
