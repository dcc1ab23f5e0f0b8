#include "policies/quest.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

namespace lil {
namespace {
const char* const kPageMin = "page_min";          // [B, Hkv, P, D] model dtype, +inf for an empty page
const char* const kPageMax = "page_max";          // [B, Hkv, P, D] model dtype, -inf for an empty page
const char* const kCurrentPage = "current_page";  // [B, Hkv] int64: page of the token written this step

int64_t page_count(int64_t slots, int64_t page_size) { return (slots + page_size - 1) / page_size; }

// [..., C] -> [..., P, page_size], padding the last page with `fill`.
at::Tensor by_page(const at::Tensor& per_slot, int64_t page_size, int64_t slot_dim, const at::Scalar& fill) {
  const int64_t slots = per_slot.size(slot_dim);
  const int64_t padded = page_count(slots, page_size) * page_size;
  at::Tensor x = per_slot;
  if (padded != slots) {
    auto pad_shape = x.sizes().vec();
    pad_shape[static_cast<size_t>(slot_dim)] = padded - slots;
    x = at::cat({x, at::full(pad_shape, fill, x.options())}, slot_dim);
  }
  auto shape = x.sizes().vec();
  shape[static_cast<size_t>(slot_dim)] = padded / page_size;
  shape.insert(shape.begin() + slot_dim + 1, page_size);
  return x.view(shape);
}
}  // namespace

QuestPolicy::QuestPolicy(int64_t budget, int64_t page_size, const PolicyGeometry& geometry)
    : Policy(budget, geometry), page_size_(page_size) {}

void QuestPolicy::init_layer(LayerCache& cache) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), head_dim = cache.keys.size(3);
  const int64_t pages = page_count(cache.keys.size(2), page_size_);
  cache.aux[kPageMin] = at::full({rows, n_kv, pages, head_dim}, std::numeric_limits<double>::infinity(), cache.keys.options());
  cache.aux[kPageMax] = at::full({rows, n_kv, pages, head_dim}, -std::numeric_limits<double>::infinity(), cache.keys.options());
  cache.aux[kCurrentPage] = at::zeros({rows, n_kv}, cache.positions.options());
}

void QuestPolicy::after_prefill(LayerCache& cache, const PrefillView& view) {
  at::Tensor empty = by_page(cache.positions[view.row].lt(0), page_size_, 1, true).unsqueeze(-1);  // [Hkv,P,ps,1]
  at::Tensor keys = by_page(cache.keys[view.row], page_size_, 1, 0.0);                              // [Hkv,P,ps,D]
  cache.aux[kPageMin][view.row].copy_(keys.masked_fill(empty, std::numeric_limits<double>::infinity()).amin(2));
  cache.aux[kPageMax][view.row].copy_(keys.masked_fill(empty, -std::numeric_limits<double>::infinity()).amax(2));
}

void QuestPolicy::after_write(LayerCache& cache, const at::Tensor& slot) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), head_dim = cache.keys.size(3);
  at::Tensor page = at::div(slot, page_size_, "floor");                                  // [B,Hkv]
  at::Tensor key = cache.keys.gather(2, slot.view({rows, n_kv, 1, 1}).expand({rows, n_kv, 1, head_dim}));
  at::Tensor page_index = page.view({rows, n_kv, 1, 1}).expand({rows, n_kv, 1, head_dim});
  at::Tensor& lo = cache.aux[kPageMin];
  at::Tensor& hi = cache.aux[kPageMax];
  lo.scatter_(2, page_index, at::minimum(lo.gather(2, page_index), key));
  hi.scatter_(2, page_index, at::maximum(hi.gather(2, page_index), key));
  cache.aux[kCurrentPage].copy_(page);
}

int64_t QuestPolicy::selection_bytes(const LayerCache& cache) const {
  // Every page's min and max are read to bound it (the page being written is read and updated too).
  const at::Tensor& lo = cache.aux.at(kPageMin);
  return static_cast<int64_t>(2 * lo.nbytes()) / std::max<int64_t>(1, lo.size(0));
}

bool QuestPolicy::fused_pages(LayerCache& cache, FusedPages* pages) const {
  pages->page_size = page_size_;
  pages->page_min = cache.aux.at(kPageMin);
  pages->page_max = cache.aux.at(kPageMax);
  return true;
}

Selection QuestPolicy::select(LayerCache& cache, const at::Tensor& query, const at::Tensor& /*current_position*/) {
  const int64_t rows = cache.keys.size(0), n_kv = cache.keys.size(1), slots = cache.keys.size(2);
  const auto type = cache.scores.scalar_type();
  const at::Tensor& lo = cache.aux.at(kPageMin);
  const at::Tensor& hi = cache.aux.at(kPageMax);
  const int64_t pages = lo.size(2);
  // sum_d max(q_d lo_d, q_d hi_d) = q+ . hi + q- . lo where lo <= hi: two matmuls, no [G, P, D] temporaries.
  at::Tensor bound = (at::matmul(query.clamp_min(0), hi.transpose(2, 3)) + at::matmul(query.clamp_max(0), lo.transpose(2, 3)))
                         .to(type)
                         .sum(2);                                                        // [B,Hkv,P]
  at::Tensor page_empty = hi.select(3, 0).isneginf();  // every write makes a page's max finite
  bound = bound.masked_fill(page_empty, -std::numeric_limits<double>::infinity());
  bound = bound.scatter(2, cache.aux.at(kCurrentPage).unsqueeze(-1),
                        at::full({rows, n_kv, 1}, std::numeric_limits<double>::infinity(), bound.options()));
  const int64_t chosen_pages = std::min(budget_ / page_size_, pages);
  at::Tensor top = std::get<1>(bound.topk(chosen_pages, -1));                            // [B,Hkv,k]
  at::Tensor offsets = at::arange(page_size_, top.options()).view({1, 1, 1, page_size_});
  at::Tensor chosen = (top.unsqueeze(-1) * page_size_ + offsets).view({rows, n_kv, chosen_pages * page_size_});
  at::Tensor in_range = chosen.lt(slots);
  chosen = chosen.clamp_max(slots - 1);
  at::Tensor valid = in_range.logical_and(cache.positions.gather(2, chosen).ge(0));
  return Selection{chosen, valid};
}

}  // namespace lil
