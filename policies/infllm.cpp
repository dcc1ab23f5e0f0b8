#include "policies/infllm.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
constexpr int64_t kKeyChunk = 256;
}  // namespace

InfLLMPolicy::InfLLMPolicy(int64_t budget, int64_t n_sink, int64_t local, int64_t block_size, int64_t reps,
                           const PolicyGeometry& geometry)
    : Policy(budget, geometry), n_sink_(n_sink), block_size_(block_size), reps_(reps) {
  n_blocks_ = (budget - n_sink - local) / block_size;
  local_ = budget - n_sink - n_blocks_ * block_size;
}

void InfLLMPolicy::after_prefill(LayerCache& cache, const PrefillView& view) {
  // Representative scores of the prompt: key m collects q_i . k_m for i in (m, m + L], in key chunks.
  const int64_t n_kv = view.keys.size(0), prompt_len = view.keys.size(1), head_dim = view.keys.size(2);
  const int64_t group = view.queries.size(0) / n_kv;
  const auto type = cache.scores.scalar_type();
  at::Tensor queries = view.queries.reshape({n_kv, group, prompt_len, head_dim});
  at::Tensor scores = cache.scores[view.row];  // [Hkv, C], zeroed by the prefill store
  const auto long_opts = cache.positions.options();
  for (int64_t begin = n_sink_; begin < prompt_len; begin += kKeyChunk) {
    const int64_t end = std::min(prompt_len, begin + kKeyChunk);
    const int64_t q_begin = begin + 1, q_end = std::min(prompt_len, end + local_);
    if (q_begin >= q_end) break;
    at::Tensor dots = at::matmul(queries.slice(2, q_begin, q_end),
                                 view.keys.slice(1, begin, end).unsqueeze(1).transpose(2, 3)).to(type);  // [Hkv,G,nq,nk]
    at::Tensor distance = at::arange(q_begin, q_end, long_opts).unsqueeze(1) - at::arange(begin, end, long_opts).unsqueeze(0);
    at::Tensor follows = distance.gt(0).logical_and(distance.le(local_));
    scores.slice(1, begin, end) += dots.masked_fill(follows.logical_not(), 0.0).sum({1, 2});
  }
}

Selection InfLLMPolicy::select(LayerCache& cache, const at::Tensor& query, const at::Tensor& current_position) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), slots = cache.keys.size(2);
  const auto type = cache.scores.scalar_type();
  const auto long_opts = cache.positions.options();
  at::Tensor p = current_position.view({rows, 1, 1});
  std::vector<at::Tensor> chosen, valid;

  // Initial tokens.
  at::Tensor sink = at::arange(n_sink_, long_opts).view({1, 1, n_sink_}).expand({rows, n_kv, n_sink_});
  chosen.push_back(sink);
  valid.push_back(sink.le(p).logical_and(sink.lt(slots)));
  // Local window.
  at::Tensor local = p - local_ + 1 + at::arange(local_, long_opts).view({1, 1, local_});
  local = local.expand({rows, n_kv, local_});
  chosen.push_back(local);
  valid.push_back(local.ge(n_sink_).logical_and(local.lt(slots)));
  at::Tensor local_start = at::maximum(p - local_ + 1, at::full_like(p, n_sink_));  // [B,1,1]

  // Memory blocks: slots n_sink .. n_sink + blocks * block_size, viewed per block (slices, not gathers). Only
  // blocks below cache.live_slots can hold tokens; the ones past it could never be picked (they are not before
  // the local window), so they are left out where shapes may vary (LayerCache::live_slots).
  const int64_t live = cache.live_slots > 0 ? std::min(cache.live_slots, slots) : slots;
  const int64_t blocks = std::max<int64_t>(0, (live - n_sink_ + block_size_ - 1) / block_size_);
  const int64_t chosen_blocks = std::min(n_blocks_, blocks);
  if (chosen_blocks > 0) {
    auto per_block = [&](const at::Tensor& per_slot, double fill) {
      at::Tensor tail = per_slot.slice(2, n_sink_, std::max(live, n_sink_));
      return at::constant_pad_nd(tail, {0, blocks * block_size_ - tail.size(2)}, fill).view({rows, n_kv, blocks, block_size_});
    };
    at::Tensor block_slots = (n_sink_ + at::arange(blocks * block_size_, long_opts)).view({1, 1, blocks, block_size_});
    // A block's tokens that are in memory: resident, before the local window.
    at::Tensor held = per_block(cache.positions, -1).ge(0).logical_and(block_slots.lt(local_start.unsqueeze(-1)));
    at::Tensor rep_score = per_block(cache.scores, 0.0).masked_fill(held.logical_not(), -std::numeric_limits<double>::infinity());
    const int64_t reps = std::min(reps_, block_size_);
    auto top_reps = rep_score.topk(reps, -1);
    at::Tensor rep_valid = std::get<0>(top_reps).gt(-std::numeric_limits<double>::infinity());     // [B,Hkv,P,r]
    at::Tensor rep_slot = (std::get<1>(top_reps) + block_slots.select(3, 0).unsqueeze(-1)).clamp_max(slots - 1);
    at::Tensor rep_keys = gather_slots(cache.keys, rep_slot.view({rows, n_kv, blocks * reps}));     // [B,Hkv,P*r,D]
    at::Tensor dots = at::matmul(query, rep_keys.transpose(2, 3)).to(type).sum(2).view({rows, n_kv, blocks, reps});
    at::Tensor relevance = dots.masked_fill(rep_valid.logical_not(), 0.0).sum(-1);                 // [B,Hkv,P]
    at::Tensor block_start = block_slots.select(3, 0);                                              // [1,1,P]
    at::Tensor candidate = block_start.lt(local_start);
    relevance = relevance.masked_fill(candidate.logical_not(), -std::numeric_limits<double>::infinity());
    at::Tensor top_blocks = std::get<1>(relevance.topk(chosen_blocks, -1));                         // [B,Hkv,k]
    at::Tensor picked = (n_sink_ + top_blocks.unsqueeze(-1) * block_size_ + at::arange(block_size_, long_opts))
                            .view({rows, n_kv, chosen_blocks * block_size_});
    at::Tensor picked_candidate = candidate.expand({rows, n_kv, blocks}).gather(2, top_blocks)
                                      .unsqueeze(-1).expand({rows, n_kv, chosen_blocks, block_size_})
                                      .reshape({rows, n_kv, chosen_blocks * block_size_});
    at::Tensor picked_valid = picked_candidate.logical_and(picked.lt(slots)).logical_and(picked.lt(local_start));
    chosen.push_back(picked);
    valid.push_back(picked_valid);
  }
  at::Tensor all_slots = at::cat(chosen, 2).clamp(0, slots - 1);
  at::Tensor all_valid = at::cat(valid, 2).logical_and(cache.positions.gather(2, all_slots).ge(0));
  return Selection{all_slots, all_valid};
}

int64_t InfLLMPolicy::selection_bytes(const LayerCache& cache) const {
  // Positions and representative scores of every slot (which block tokens are in memory, the top `reps` of
  // each block), then the representatives' keys. The fused GPU step keeps each final block's key sum
  // (kBlockSumsAux): it reads those sums, and the former for the one block at the window's edge.
  const int64_t rows = std::max<int64_t>(1, cache.keys.size(0)), n_kv = cache.keys.size(1), slots = cache.keys.size(2);
  const int64_t reps = std::min(reps_, block_size_);
  const int64_t key_bytes = cache.keys.size(3) * static_cast<int64_t>(cache.keys.element_size());
  const auto kept = cache.aux.find(kBlockSumsAux);
  if (kept != cache.aux.end()) {
    const int64_t edge = n_kv * (block_size_ * static_cast<int64_t>(cache.positions.element_size() +
                                                                     cache.scores.element_size()) + reps * key_bytes);
    return static_cast<int64_t>(kept->second.nbytes()) / rows + edge;
  }
  const int64_t blocks = std::max<int64_t>(0, (slots - n_sink_ + block_size_ - 1) / block_size_);
  const int64_t rep_keys = n_kv * blocks * reps * key_bytes;
  return static_cast<int64_t>(cache.positions.nbytes() + cache.scores.nbytes()) / rows + rep_keys;
}

bool InfLLMPolicy::fused_blocks(FusedBlocks* rule) const {
  rule->n_sink = n_sink_;
  rule->local = local_;
  rule->block_size = block_size_;
  rule->reps = std::min(reps_, block_size_);
  rule->n_blocks = n_blocks_;
  return n_blocks_ > 0;
}

void InfLLMPolicy::after_attention(LayerCache& cache, const DecodeStepView& step) {
  // The current query follows tokens p-L .. p-1 by at most L: add its q . k to their representative score.
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), slots = cache.keys.size(2);
  at::Tensor previous = step.position.view({rows, 1, 1}) - local_ + at::arange(local_, cache.positions.options()).view({1, 1, local_});
  at::Tensor counted = previous.ge(n_sink_).logical_and(previous.lt(slots));
  at::Tensor index = previous.clamp(0, slots - 1).expand({rows, n_kv, local_});
  at::Tensor keys = gather_slots(cache.keys, index);
  at::Tensor dots = at::matmul(step.query, keys.transpose(2, 3)).to(cache.scores.scalar_type()).sum(2);  // [B,Hkv,L]
  counted = counted.expand({rows, n_kv, local_}).logical_and(cache.positions.gather(2, index).ge(0));
  cache.scores.scatter_add_(2, index, dots.masked_fill(counted.logical_not(), 0.0));
}

}  // namespace lil
