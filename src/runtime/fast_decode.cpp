#include "runtime/fast_decode.h"

#include <cstdint>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "policies/policy.h"
#include "runtime/moe.h"

#ifdef LIL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "kernels/decode_kernels.h"
#endif

namespace lil {

namespace {

[[noreturn]] void no_cuda(const char* what) {
  throw std::logic_error(std::string(what) + ": the fused kernels need a CUDA build of lil and CUDA tensors");
}

#ifdef LIL_WITH_CUDA
int elem_type(c10::ScalarType type) {
  switch (type) {
    case at::kFloat: return kernels::kF32;
    case at::kHalf: return kernels::kF16;
    case at::kBFloat16: return kernels::kBF16;
    default: throw std::invalid_argument("fused kernels: expected float32, float16 or bfloat16, got " +
                                         std::string(c10::toString(type)));
  }
}
int elem_type(const at::Tensor& t) { return elem_type(t.scalar_type()); }
void* current_stream() { return at::cuda::getCurrentCUDAStream().stream(); }
void check_launch(const char* what) {
  const std::string err = kernels::last_launch_error();
  if (!err.empty()) throw std::runtime_error(std::string(what) + ": CUDA launch failed: " + err);
}
void require(bool ok, const char* what, const std::string& expected) {
  if (!ok) throw std::invalid_argument(std::string(what) + ": expected " + expected);
}
#endif

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

bool fused_kernels_available(const at::Tensor& like) {
#ifdef LIL_WITH_CUDA
  const auto t = like.scalar_type();
  return like.is_cuda() && (t == at::kFloat || t == at::kHalf || t == at::kBFloat16);
#else
  (void)like;
  return false;
#endif
}

// ---- RMSNorm ----
at::Tensor reference_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * xf.to(x.scalar_type());
}

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
#ifdef LIL_WITH_CUDA
  require(x.is_contiguous() && weight.is_contiguous() && x.scalar_type() == weight.scalar_type() &&
              x.size(-1) == weight.numel(),
          "fused_rms_norm", "contiguous x [N, H] and weight [H] of one dtype");
  at::Tensor out = at::empty_like(x);
  const int64_t hidden = x.size(-1);
  kernels::rms_norm(elem_type(x), x.data_ptr(), weight.data_ptr(), out.data_ptr(), x.numel() / hidden, hidden,
                    static_cast<float>(eps), current_stream());
  check_launch("fused_rms_norm");
  return out;
#else
  (void)x, (void)weight, (void)eps;
  no_cuda("fused_rms_norm");
#endif
}

// ---- RoPE ----
RopedQKV reference_rope(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                        const at::Tensor& positions, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim) {
  const int64_t rows = qkv.size(0);
  at::Tensor c = cos.index_select(0, positions).unsqueeze(1);  // [B,1,D]
  at::Tensor s = sin.index_select(0, positions).unsqueeze(1);
  at::Tensor q = qkv.slice(1, 0, n_q_heads * head_dim).view({rows, n_q_heads, head_dim});
  at::Tensor k = qkv.slice(1, n_q_heads * head_dim, (n_q_heads + n_kv_heads) * head_dim).view({rows, n_kv_heads, head_dim});
  at::Tensor v = qkv.slice(1, (n_q_heads + n_kv_heads) * head_dim).reshape({rows, n_kv_heads, head_dim});
  return {q * c + rotate_half(q) * s, k * c + rotate_half(k) * s, v};
}

RopedQKV fused_rope(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& positions,
                    int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim) {
#ifdef LIL_WITH_CUDA
  require(qkv.is_contiguous() && cos.is_contiguous() && sin.is_contiguous() && positions.scalar_type() == at::kLong &&
              qkv.size(1) == (n_q_heads + 2 * n_kv_heads) * head_dim && head_dim % 2 == 0,
          "fused_rope", "contiguous qkv [B, (Hq + 2 Hkv) D], tables [P, D] and int64 positions");
  const int64_t rows = qkv.size(0);
  RopedQKV out{at::empty({rows, n_q_heads, head_dim}, qkv.options()), at::empty({rows, n_kv_heads, head_dim}, qkv.options()),
               at::empty({rows, n_kv_heads, head_dim}, qkv.options())};
  kernels::RopeAppendArgs a;
  a.qkv = qkv.data_ptr();
  a.cos = cos.data_ptr();
  a.sin = sin.data_ptr();
  a.positions = positions.data_ptr<int64_t>();
  a.q_out = out.q.data_ptr();
  a.k_out = out.k.data_ptr();
  a.v_out = out.v.data_ptr();
  a.batch = rows;
  a.n_q_heads = n_q_heads;
  a.n_kv_heads = n_kv_heads;
  a.head_dim = head_dim;
  kernels::rope_append(elem_type(qkv), a, current_stream());
  check_launch("fused_rope");
  return out;
#else
  (void)qkv, (void)cos, (void)sin, (void)positions, (void)n_q_heads, (void)n_kv_heads, (void)head_dim;
  no_cuda("fused_rope");
#endif
}

// ---- full attention ----
namespace {
// A measurement knob (scripts/gpu_session.sh bench-ab): the integer in environment variable `name` when it is a
// whole number in [lo, hi], else (unset, empty, not a number, out of range) `fallback`.
int64_t env_knob(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* env = std::getenv(name);
  if (env == nullptr) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  return end != env && *end == '\0' && v >= lo && v <= hi ? static_cast<int64_t>(v) : fallback;
}
}  // namespace

int64_t decode_attention_splits(int64_t batch, int64_t n_kv_heads, int64_t capacity, int64_t* chunk) {
  // About 264 blocks (two per SM of a large GPU) and never more (splits rounded down: the kernel keeps two
  // blocks per SM resident, and a grid past that would run a partial second wave); chunks of whole rounds of 16
  // slots (four tokens for each of the block's four warps), at least 32. Knobs for measurements (scripts/
  // gpu_session.sh bench-ab): LIL_ATTN_TARGET_BLOCKS (16..4096) for the 264, LIL_ATTN_MIN_CHUNK (16..4096,
  // rounded down to whole rounds) for the 32.
  static const int64_t target_blocks = env_knob("LIL_ATTN_TARGET_BLOCKS", 264, 16, 4096);
  static const int64_t min_chunk = env_knob("LIL_ATTN_MIN_CHUNK", 32, 16, 4096) / 16 * 16;
  const int64_t per_split = std::max<int64_t>(1, batch * n_kv_heads);
  const int64_t want_splits = std::max<int64_t>(1, target_blocks / per_split);  // no partial second wave
  int64_t c = (capacity + want_splits - 1) / want_splits;
  c = std::max<int64_t>(min_chunk, (c + 15) / 16 * 16);
  *chunk = c;
  return (capacity + c - 1) / c;
}

int64_t decode_attention_scratch(int64_t batch, int64_t n_q_heads, int64_t head_dim, int64_t splits) {
  return batch * n_q_heads * splits * (head_dim + 2);
}

bool fused_full_attention_supported(const at::Tensor& like, int64_t head_dim, int64_t group) {
#ifdef LIL_WITH_CUDA
  return fused_kernels_available(like) && kernels::decode_attention_supports(head_dim, group);
#else
  (void)like, (void)head_dim, (void)group;
  return false;
#endif
}

at::Tensor reference_full_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                    const at::Tensor& positions, double softmax_scale) {
  const int64_t rows = q.size(0), n_q = q.size(1), d = q.size(2);
  const int64_t n_kv = k_cache.size(1), capacity = k_cache.size(2), group = n_q / n_kv;
  at::Tensor query = q.view({rows, n_kv, group, d}).to(at::kFloat);
  at::Tensor logits = at::matmul(query, k_cache.to(at::kFloat).transpose(2, 3)) * softmax_scale;  // [B,Hkv,G,C]
  at::Tensor slots = at::arange(capacity, positions.options()).view({1, 1, 1, capacity});
  logits = logits.masked_fill(slots.gt(positions.view({rows, 1, 1, 1})), -std::numeric_limits<double>::infinity());
  at::Tensor out = at::matmul(at::softmax(logits, -1), v_cache.to(at::kFloat));  // [B,Hkv,G,D]
  return out.reshape({rows, n_q, d}).to(q.scalar_type());
}

namespace {
#ifdef LIL_WITH_CUDA
// The arguments every fused attention step shares (see kernels::DecodeAttentionArgs), with the split plan over
// `span` listed tokens (the capacity when 0); checks the shapes. The caller lays its scratch out from a.splits
// and checks it with require_scratch.
kernels::DecodeAttentionArgs attention_args(const char* who, const at::Tensor& qkv, const at::Tensor& cos,
                                            const at::Tensor& sin, const at::Tensor& positions,
                                            const at::Tensor& k_cache, const at::Tensor& v_cache,
                                            const at::Tensor& slot_positions, const at::Tensor& scratch,
                                            int64_t n_q_heads, double softmax_scale, at::Tensor* out, int64_t span = 0) {
  const int64_t rows = k_cache.size(0), n_kv = k_cache.size(1), capacity = k_cache.size(2), d = k_cache.size(3);
  require(k_cache.is_contiguous() && v_cache.is_contiguous() && slot_positions.is_contiguous() &&
              qkv.is_contiguous() && qkv.size(0) == rows && qkv.size(1) == (n_q_heads + 2 * n_kv) * d &&
              qkv.scalar_type() == k_cache.scalar_type() && scratch.scalar_type() == at::kFloat,
          who, "contiguous qkv [B, (Hq + 2 Hkv) D] and caches [B, Hkv, C, D] of one dtype");
  *out = at::empty({rows, n_q_heads, d}, qkv.options());
  kernels::DecodeAttentionArgs a;
  a.qkv = qkv.data_ptr();
  a.cos = cos.data_ptr();
  a.sin = sin.data_ptr();
  a.slot_positions = slot_positions.data_ptr<int64_t>();
  a.k = k_cache.data_ptr();
  a.v = v_cache.data_ptr();
  a.positions = positions.data_ptr<int64_t>();
  a.out = out->data_ptr();
  a.partial = scratch.data_ptr<float>();
  a.batch = rows;
  a.n_q_heads = n_q_heads;
  a.n_kv_heads = n_kv;
  a.head_dim = d;
  a.capacity = capacity;
  a.splits = decode_attention_splits(rows, n_kv, span > 0 ? span : capacity, &a.chunk);
  a.softmax_scale = static_cast<float>(softmax_scale);
  a.tensor_cores = tensor_core_attention();
  // Quest's and InfLLM's scoring kernels: about 528 blocks in all (four per SM of a large GPU); a knob for
  // measurements (scripts/gpu_session.sh), LIL_SELECT_TARGET_BLOCKS (64..8192).
  static const int64_t select_blocks = env_knob("LIL_SELECT_TARGET_BLOCKS", 528, 64, 8192);
  a.select_blocks = select_blocks;
  return a;
}

void require_scratch(const char* who, const at::Tensor& scratch, int64_t needed) {
  require(scratch.numel() >= needed, who, "a float32 scratch of " + std::to_string(needed) + " elements");
}

int64_t* data_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<int64_t>() : nullptr; }

// The attention half of a retention policy's fused step: decode_attention in gather mode over the `selected`
// tokens `list` names by pages of page_size slots; *attended, when asked for, is the [B, Hkv] int64 view of the
// counts the selection kernels left in the scratch at float offset `counts`.
void gather_attention(const char* who, const at::Tensor& qkv, kernels::DecodeAttentionArgs a, int32_t* list,
                      int64_t page_size, int64_t selected, const at::Tensor& scratch, int64_t counts,
                      at::Tensor* attended) {
  a.pages = list;
  a.page_size = page_size;
  a.selected = selected;
  kernels::decode_attention(elem_type(qkv), a, current_stream());
  check_launch(who);
  if (attended != nullptr) {
    const int64_t rows = a.batch * a.n_kv_heads;
    *attended = scratch.narrow(0, counts, 2 * rows).view(at::kLong).view({a.batch, a.n_kv_heads});
  }
}
#endif

// Offsets (in floats) of Quest's scratch: the split partials over the selected tokens, the page bounds
// [B, Hkv, P], the chosen pages [B, Hkv, k] (int32), the attended counts [B, Hkv] (int64, at an even offset).
struct PagesScratch {
  int64_t bounds, pages, attended, total;
};
PagesScratch pages_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_pages,
                           int64_t k_pages, int64_t splits) {
  PagesScratch e;
  e.bounds = decode_attention_scratch(batch, n_q_heads, head_dim, splits);
  e.pages = e.bounds + batch * n_kv_heads * n_pages;
  e.attended = (e.pages + batch * n_kv_heads * k_pages + 1) / 2 * 2;
  e.total = e.attended + 2 * batch * n_kv_heads;
  return e;
}

// Offsets (in floats) of InfLLM's scratch: the split partials over the listed slots, the block relevances
// [B, Hkv, P], the summed queries [B, Hkv, D], the chosen blocks [B, Hkv, k] and the slot list [B, Hkv, selected]
// (int32), the attended counts [B, Hkv] (int64, at an even offset).
struct BlocksScratch {
  int64_t relevance, query_sum, blocks, slots, attended, total;
};
BlocksScratch blocks_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim, int64_t n_blocks,
                             int64_t k_blocks, int64_t selected, int64_t splits) {
  const int64_t rows = batch * n_kv_heads;
  BlocksScratch e;
  e.relevance = decode_attention_scratch(batch, n_q_heads, head_dim, splits);
  e.query_sum = e.relevance + rows * n_blocks;
  e.blocks = e.query_sum + rows * head_dim;
  e.slots = e.blocks + rows * k_blocks;
  e.attended = (e.slots + rows * selected + 1) / 2 * 2;
  e.total = e.attended + 2 * rows;
  return e;
}

// InfLLM's step in the kernels' terms: memory blocks over the capacity, blocks chosen, tokens listed.
struct BlocksPlan {
  int64_t n_blocks = 0, k_blocks = 0, selected = 0;
};
BlocksPlan blocks_plan(const FusedBlocks& rule, int64_t capacity) {
  BlocksPlan p;
  p.n_blocks = std::max<int64_t>(0, (capacity - rule.n_sink + rule.block_size - 1) / rule.block_size);
  p.k_blocks = std::min(rule.n_blocks, p.n_blocks);
  p.selected = rule.n_sink + rule.local + p.k_blocks * rule.block_size;
  return p;
}

// Offsets (in floats) of the eviction step's scratch: the split partials, the base-2 scores [B, Hq, C], the
// heads' maxima and denominators [B, Hq, 2], the chosen slots [B, Hkv] (int64, at an even offset).
struct EvictionScratch {
  int64_t logits, stats, chosen, total;
};
EvictionScratch eviction_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                                 int64_t capacity, int64_t splits) {
  EvictionScratch e;
  e.logits = (decode_attention_scratch(batch, n_q_heads, head_dim, splits) + 1) / 2 * 2;
  e.stats = e.logits + batch * n_q_heads * capacity;
  e.chosen = (e.stats + batch * n_q_heads * 2 + 1) / 2 * 2;
  e.total = e.chosen + 2 * batch * n_kv_heads;
  return e;
}
}  // namespace

at::Tensor fused_full_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                             const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                             const at::Tensor& slot_positions, const at::Tensor& partial, int64_t n_q_heads,
                             double softmax_scale) {
#ifdef LIL_WITH_CUDA
  at::Tensor out;
  // RoPE and the cache append happen in the split kernel (see kernels::DecodeAttentionArgs), then the combine.
  kernels::DecodeAttentionArgs a = attention_args("fused_full_decode", qkv, cos, sin, positions, k_cache, v_cache,
                                                  slot_positions, partial, n_q_heads, softmax_scale, &out);
  require_scratch("fused_full_decode", partial, decode_attention_scratch(a.batch, n_q_heads, a.head_dim, a.splits));
  kernels::decode_attention(elem_type(qkv), a, current_stream());
  check_launch("fused_full_decode (attention)");
  return out;
#else
  (void)qkv, (void)cos, (void)sin, (void)positions, (void)k_cache, (void)v_cache, (void)slot_positions, (void)partial,
      (void)n_q_heads, (void)softmax_scale;
  no_cuda("fused_full_decode");
#endif
}

int64_t decode_eviction_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                                int64_t capacity, int64_t splits) {
  return eviction_scratch(batch, n_q_heads, n_kv_heads, head_dim, capacity, splits).total;
}

int64_t decode_pages_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                             int64_t n_pages, int64_t k_pages, int64_t page_size) {
  int64_t chunk = 0;
  const int64_t splits = decode_attention_splits(batch, n_kv_heads, k_pages * page_size, &chunk);
  return pages_scratch(batch, n_q_heads, n_kv_heads, head_dim, n_pages, k_pages, splits).total;
}

bool fused_pages_supported(int64_t n_pages) {
#ifdef LIL_WITH_CUDA
  return kernels::quest_select_supports(n_pages);
#else
  (void)n_pages;
  return false;
#endif
}

at::Tensor fused_pages_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                              const at::Tensor& slot_positions, const at::Tensor& page_min, const at::Tensor& page_max,
                              int64_t page_size, int64_t k_pages, const at::Tensor& scratch, int64_t n_q_heads,
                              double softmax_scale, at::Tensor* attended, const at::Tensor& attended_max) {
#ifdef LIL_WITH_CUDA
  const int64_t rows = k_cache.size(0), n_kv = k_cache.size(1), capacity = k_cache.size(2), d = k_cache.size(3);
  const int64_t n_pages = page_min.size(2);
  require(page_size >= 1 && k_pages >= 1 && k_pages <= n_pages && n_pages == (capacity + page_size - 1) / page_size &&
              page_min.is_contiguous() && page_max.is_contiguous() && page_min.sizes() == page_max.sizes() &&
              page_min.scalar_type() == k_cache.scalar_type() && page_min.size(0) == rows && page_min.size(1) == n_kv &&
              page_min.size(3) == d && kernels::quest_select_supports(n_pages),
          "fused_pages_decode", "page_min/page_max [B, Hkv, ceil(C / page_size), D] like the cache, 1 <= k_pages <= pages");
  at::Tensor out;
  kernels::QuestArgs qa;
  qa.token = attention_args("fused_pages_decode", qkv, cos, sin, positions, k_cache, v_cache, slot_positions, scratch,
                            n_q_heads, softmax_scale, &out, k_pages * page_size);
  const PagesScratch e = pages_scratch(rows, n_q_heads, n_kv, d, n_pages, k_pages, qa.token.splits);
  require_scratch("fused_pages_decode", scratch, e.total);
  float* base = scratch.data_ptr<float>();
  qa.page_min = page_min.data_ptr();
  qa.page_max = page_max.data_ptr();
  qa.bounds = base + e.bounds;
  qa.pages = reinterpret_cast<int32_t*>(base + e.pages);
  qa.attended = reinterpret_cast<int64_t*>(base + e.attended);
  qa.attended_max = data_or_null(attended_max);
  qa.page_size = page_size;
  qa.n_pages = n_pages;
  qa.k_pages = k_pages;
  kernels::quest_select(elem_type(qkv), qa, current_stream());
  check_launch("fused_pages_decode (page choice)");
  gather_attention("fused_pages_decode (attention)", qkv, qa.token, qa.pages, page_size, k_pages * page_size, scratch,
                   e.attended, attended);
  return out;
#else
  (void)qkv, (void)cos, (void)sin, (void)positions, (void)k_cache, (void)v_cache, (void)slot_positions, (void)page_min,
      (void)page_max, (void)page_size, (void)k_pages, (void)scratch, (void)n_q_heads, (void)softmax_scale, (void)attended,
      (void)attended_max;
  no_cuda("fused_pages_decode");
#endif
}

int64_t decode_blocks_scratch(int64_t batch, int64_t n_q_heads, int64_t n_kv_heads, int64_t head_dim,
                              int64_t capacity, const FusedBlocks& rule) {
  const BlocksPlan p = blocks_plan(rule, capacity);
  int64_t chunk = 0;
  const int64_t splits = decode_attention_splits(batch, n_kv_heads, p.selected, &chunk);
  return blocks_scratch(batch, n_q_heads, n_kv_heads, head_dim, p.n_blocks, p.k_blocks, p.selected, splits).total;
}

namespace {
bool blocks_plan_supported(const BlocksPlan& p, const FusedBlocks& rule) {
#ifdef LIL_WITH_CUDA
  return p.k_blocks >= 1 && kernels::infllm_select_supports(p.n_blocks, rule.block_size, rule.reps);
#else
  (void)p, (void)rule;
  return false;
#endif
}
}  // namespace

bool fused_blocks_supported(int64_t capacity, const FusedBlocks& rule) {
#ifdef LIL_WITH_CUDA
  return blocks_plan_supported(blocks_plan(rule, capacity), rule);
#else
  (void)capacity, (void)rule;
  return false;
#endif
}

at::Tensor fused_blocks_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                               const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                               const at::Tensor& slot_positions, const at::Tensor& scores, const at::Tensor& block_sums,
                               const FusedBlocks& rule, const at::Tensor& scratch, int64_t n_q_heads,
                               double softmax_scale, at::Tensor* attended, const at::Tensor& attended_max) {
#ifdef LIL_WITH_CUDA
  const int64_t rows = k_cache.size(0), n_kv = k_cache.size(1), capacity = k_cache.size(2), d = k_cache.size(3);
  const BlocksPlan p = blocks_plan(rule, capacity);
  require(scores.is_contiguous() && scores.scalar_type() == at::kFloat && scores.numel() == rows * n_kv * capacity &&
              blocks_plan_supported(p, rule),
          "fused_blocks_decode", "float32 scores [B, Hkv, C] like the cache, blocks of at most 32 tokens, at most 4 "
                                 "representatives");
  require(block_sums.defined() && block_sums.is_contiguous() && block_sums.scalar_type() == at::kFloat &&
              block_sums.device() == k_cache.device() && block_sums.numel() == rows * n_kv * p.n_blocks * d,
          "fused_blocks_decode", "float32 block sums [B, Hkv, n_blocks, D] (make_block_sums) on the cache's device");
  at::Tensor out;
  kernels::InfLLMArgs ia;
  ia.token = attention_args("fused_blocks_decode", qkv, cos, sin, positions, k_cache, v_cache, slot_positions, scratch,
                            n_q_heads, softmax_scale, &out, p.selected);
  // InfLLM's block-scoring grid apart from Quest's: LIL_INFLLM_TARGET_BLOCKS (64..8192; by default
  // LIL_SELECT_TARGET_BLOCKS's value).
  static const int64_t infllm_blocks = env_knob("LIL_INFLLM_TARGET_BLOCKS", ia.token.select_blocks, 64, 8192);
  ia.token.select_blocks = infllm_blocks;
  const BlocksScratch e = blocks_scratch(rows, n_q_heads, n_kv, d, p.n_blocks, p.k_blocks, p.selected, ia.token.splits);
  require_scratch("fused_blocks_decode", scratch, e.total);
  float* base = scratch.data_ptr<float>();
  ia.scores = scores.data_ptr<float>();
  ia.query_sum = base + e.query_sum;
  ia.relevance = base + e.relevance;
  ia.blocks = reinterpret_cast<int32_t*>(base + e.blocks);
  ia.slots = reinterpret_cast<int32_t*>(base + e.slots);
  ia.block_sums = block_sums.data_ptr<float>();
  ia.attended = reinterpret_cast<int64_t*>(base + e.attended);
  ia.attended_max = data_or_null(attended_max);
  ia.n_sink = rule.n_sink;
  ia.local = rule.local;
  ia.block_size = rule.block_size;
  ia.reps = rule.reps;
  ia.n_blocks = p.n_blocks;
  ia.k_blocks = p.k_blocks;
  ia.selected = p.selected;
  kernels::infllm_select(elem_type(qkv), ia, current_stream());
  check_launch("fused_blocks_decode (block choice)");
  gather_attention("fused_blocks_decode (attention)", qkv, ia.token, ia.slots, 1, p.selected, scratch, e.attended,
                   attended);
  return out;
#else
  (void)qkv, (void)cos, (void)sin, (void)positions, (void)k_cache, (void)v_cache, (void)slot_positions, (void)scores,
      (void)block_sums, (void)rule, (void)scratch, (void)n_q_heads, (void)softmax_scale, (void)attended,
      (void)attended_max;
  no_cuda("fused_blocks_decode");
#endif
}

at::Tensor make_block_sums(const LayerCache& cache, const FusedBlocks& rule) {
  const BlocksPlan p = blocks_plan(rule, cache.keys.size(2));
  return at::zeros({cache.keys.size(0), cache.keys.size(1), p.n_blocks, cache.keys.size(3)},
                   cache.keys.options().dtype(at::kFloat));
}

void prefill_block_sums(at::Tensor& block_sums, const LayerCache& cache, int64_t row, int64_t prompt_len,
                        const FusedBlocks& rule) {
  at::Tensor sums = block_sums[row];  // [Hkv, n_blocks, D]
  const int64_t n_kv = cache.keys.size(1), head_dim = cache.keys.size(3), bs = rule.block_size;
  const int64_t final_blocks =
      std::min(sums.size(1), std::max<int64_t>(0, (prompt_len - rule.local - rule.n_sink) / bs));
  sums.slice(1, final_blocks).zero_();  // the final ones are written below
  if (final_blocks == 0) return;
  const int64_t span = final_blocks * bs, reps = std::min(rule.reps, bs);
  const double none = -std::numeric_limits<double>::infinity();
  at::Tensor held = cache.positions[row].slice(1, rule.n_sink, rule.n_sink + span).ge(0).view({n_kv, final_blocks, bs});
  at::Tensor rank = cache.scores[row].slice(1, rule.n_sink, rule.n_sink + span).view({n_kv, final_blocks, bs})
                        .masked_fill(held.logical_not(), none);
  // The highest scores first, the lower slot among equal ones (a stable sort).
  at::Tensor order = std::get<1>(rank.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/true)).slice(2, 0, reps);
  at::Tensor valid = rank.gather(2, order).gt(none);  // [Hkv, F, r]
  at::Tensor first_slot = rule.n_sink + at::arange(final_blocks, order.options()).mul(bs).view({1, final_blocks, 1});
  at::Tensor slots =
      (order + first_slot).view({n_kv, final_blocks * reps, 1}).expand({n_kv, final_blocks * reps, head_dim});
  at::Tensor keys = cache.keys[row].gather(1, slots).view({n_kv, final_blocks, reps, head_dim}).to(at::kFloat);
  sums.slice(1, 0, final_blocks).copy_(keys.masked_fill(valid.logical_not().unsqueeze(-1), 0.0).sum(2));
}

at::Tensor fused_eviction_decode(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                 const at::Tensor& positions, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                 const at::Tensor& slot_positions, const at::Tensor& scores, const FusedEviction& rule,
                                 const at::Tensor& scratch, int64_t n_q_heads, double softmax_scale) {
#ifdef LIL_WITH_CUDA
  const int64_t rows = k_cache.size(0), n_kv = k_cache.size(1), capacity = k_cache.size(2), d = k_cache.size(3);
  require(scores.is_contiguous() && scores.scalar_type() == at::kFloat && scores.numel() == rows * n_kv * capacity,
          "fused_eviction_decode", "float32 scores [B, Hkv, C] like the cache");
  at::Tensor out;
  kernels::DecodeAttentionArgs a = attention_args("fused_eviction_decode", qkv, cos, sin, positions, k_cache, v_cache,
                                                  slot_positions, scratch, n_q_heads, softmax_scale, &out);
  const EvictionScratch e = eviction_scratch(rows, n_q_heads, n_kv, d, capacity, a.splits);
  require_scratch("fused_eviction_decode", scratch, e.total);
  float* base = scratch.data_ptr<float>();
  a.evict = true;
  a.scores = scores.data_ptr<float>();
  a.chosen = reinterpret_cast<int64_t*>(base + e.chosen);
  a.protect_below = rule.protect_below;
  a.protect_recent = rule.protect_recent;
  a.key_is_position = rule.key_is_position;
  a.update = rule.update == FusedEviction::Update::AddSum ? 1 : rule.update == FusedEviction::Update::SetMean ? 2 : 0;
  if (a.update != 0) {
    a.logits = base + e.logits;
    a.head_stats = base + e.stats;
  }
  kernels::decode_attention(elem_type(qkv), a, current_stream());
  check_launch("fused_eviction_decode (attention)");
  return out;
#else
  (void)qkv, (void)cos, (void)sin, (void)positions, (void)k_cache, (void)v_cache, (void)slot_positions, (void)scores,
      (void)rule, (void)scratch, (void)n_q_heads, (void)softmax_scale;
  no_cuda("fused_eviction_decode");
#endif
}

// ---- SwiGLU activation ----
at::Tensor reference_silu_mul(const at::Tensor& gate_up) {
  const int64_t width = gate_up.size(-1) / 2;
  return at::silu(gate_up.slice(-1, 0, width)) * gate_up.slice(-1, width);
}

at::Tensor fused_silu_mul(const at::Tensor& gate_up) {
#ifdef LIL_WITH_CUDA
  require(gate_up.is_contiguous() && gate_up.dim() == 2 && gate_up.size(1) % 2 == 0, "fused_silu_mul",
          "contiguous [N, 2I]");
  const int64_t rows = gate_up.size(0), width = gate_up.size(1) / 2;
  at::Tensor out = at::empty({rows, width}, gate_up.options());
  kernels::silu_mul(elem_type(gate_up), gate_up.data_ptr(), out.data_ptr(), rows, width, current_stream());
  check_launch("fused_silu_mul");
  return out;
#else
  (void)gate_up;
  no_cuda("fused_silu_mul");
#endif
}

// ---- grouped experts ----
std::pair<at::Tensor, at::Tensor> group_pairs_by_expert(const at::Tensor& experts, int64_t num_experts) {
  at::Tensor flat = experts.reshape({-1});
  auto sorted = at::sort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  at::Tensor bounds = at::arange(num_experts + 1, flat.options());
  at::Tensor offsets = at::searchsorted(std::get<0>(sorted), bounds);  // first pair of each expert, then the end
  return {std::get<1>(sorted), offsets};
}

at::Tensor reference_grouped_expert_gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& order,
                                         const at::Tensor& offsets, int64_t input_div) {
  const int64_t pairs = order.numel(), experts = w.size(0);
  at::Tensor out = at::zeros({pairs, w.size(1)}, x.options());
  at::Tensor off = offsets.cpu();
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t begin = off[e].item<int64_t>(), end = off[e + 1].item<int64_t>();
    if (begin == end) continue;
    at::Tensor ids = order.slice(0, begin, end);
    at::Tensor rows = x.index_select(0, at::div(ids, input_div, "floor"));
    out.index_copy_(0, ids, at::linear(rows, w[e]));
  }
  return out;
}

at::Tensor grouped_expert_gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& order,
                               const at::Tensor& offsets, int64_t input_div) {
#ifdef LIL_WITH_CUDA
  const int64_t k = w.size(2);
  require(x.is_contiguous() && w.is_contiguous() && x.size(-1) == k && x.scalar_type() == w.scalar_type() &&
              k % (16 / static_cast<int64_t>(x.element_size())) == 0 && order.scalar_type() == at::kLong &&
              offsets.numel() == w.size(0) + 1,
          "grouped_expert_gemv", "contiguous x [*, K], w [E, N, K] (K a multiple of 16 bytes), int64 order and offsets");
  at::Tensor out = at::empty({order.numel(), w.size(1)}, x.options());
  kernels::GroupedGemvArgs a;
  a.x = x.data_ptr();
  a.w = w.data_ptr();
  a.order = order.data_ptr<int64_t>();
  a.offsets = offsets.data_ptr<int64_t>();
  a.out = out.data_ptr();
  a.experts = w.size(0);
  a.n = w.size(1);
  a.k = k;
  a.input_div = input_div;
  kernels::grouped_gemv(elem_type(x), a, current_stream());
  check_launch("grouped_expert_gemv");
  return out;
#else
  (void)x, (void)w, (void)order, (void)offsets, (void)input_div;
  no_cuda("grouped_expert_gemv");
#endif
}

// ---- linear layers with their neighbours ----
at::Tensor reference_linear(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o) {
  at::Tensor in = o.norm_weight.defined() ? reference_rms_norm(x, o.norm_weight, o.eps) : x;
  if (o.normed != nullptr && o.norm_weight.defined()) *o.normed = in;
  at::Tensor y;
  if (o.swiglu) {
    y = reference_silu_mul(at::linear(in, w));
  } else {
    y = o.bias.defined() ? at::linear(in, w, o.bias) : at::linear(in, w);
  }
  if (o.residual.defined()) y = o.residual + y;
  return o.float_out ? y.to(at::kFloat) : y;
}

namespace {
// A kernel choice: the environment variable set to 1 / 0 turns it on / off (read once), else the default;
// set() decides.
struct KernelSwitch {
  const char* env_name;
  bool default_on = false;
  std::atomic<int> state{-1};  // -1 until decided, else 0 / 1
  bool on() {
    int v = state.load();
    if (v < 0) {
      const char* env = std::getenv(env_name);
      const std::string e = env != nullptr ? env : "";
      v = e == "1" ? 1 : e == "0" ? 0 : default_on ? 1 : 0;
      state.store(v);
    }
    return v == 1;
  }
  void set(bool value) { state.store(value ? 1 : 0); }
};
KernelSwitch g_tensor_core_linear{"LIL_MMA_LINEAR"};
KernelSwitch g_gemv_chain{"LIL_GEMV_CHAIN"};
KernelSwitch g_tensor_core_attention{"LIL_ATTN_MMA", true};
}  // namespace

bool tensor_core_linear() { return g_tensor_core_linear.on(); }
void set_tensor_core_linear(bool on) { g_tensor_core_linear.set(on); }
bool gemv_chain() { return g_gemv_chain.on(); }
void set_gemv_chain(bool on) { g_gemv_chain.set(on); }
bool tensor_core_attention() { return g_tensor_core_attention.on(); }
void set_tensor_core_attention(bool on) { g_tensor_core_attention.set(on); }

namespace {
// Off: measured slower on an H100 (1.5B batch 1: 1.850 ms off, 1.886 at 12 MiB, 1.945 at 32; results/gpu/README.md,
// thirteenth session).
constexpr int64_t kDefaultL2PrefetchMb = 0;
std::atomic<int64_t> g_l2_prefetch_bytes{-1};
}  // namespace

int64_t l2_prefetch_bytes() {
  int64_t v = g_l2_prefetch_bytes.load();
  if (v < 0) {
    const char* env = std::getenv("LIL_L2_PREFETCH_MB");
    const long long mb = env != nullptr ? std::atoll(env) : kDefaultL2PrefetchMb;
    v = (mb > 0 ? static_cast<int64_t>(mb) : 0) << 20;
    g_l2_prefetch_bytes.store(v);
  }
  return v;
}
void set_l2_prefetch_bytes(int64_t bytes) { g_l2_prefetch_bytes.store(std::max<int64_t>(0, bytes)); }

namespace {
// The GEMV beats cuBLAS (with the separate norm / SwiGLU kernels) at one row only. Per decode step at 1k
// context on an H100 (results/gpu/README.md, sixteenth session), GEMV against cuBLAS for the batch's rows:
// 1.5B shape, batch 1 1.840 / 1.963 ms, batch 2 2.311 / 2.010, batch 3 2.834 / 2.013, batch 4 3.682 / 2.011;
// 8B shape, batch 1 6.035 / 6.064, batch 2 7.256 / 6.139, batch 3 10.431 / 6.222, batch 4 10.017 / 6.270.
constexpr int64_t kDefaultGemvMaxRows = 1;
constexpr int64_t kLargestGemvRows = 4;  // the GEMV's largest build
#ifdef LIL_WITH_CUDA
static_assert(kernels::kGemvMaxRows == kLargestGemvRows, "the row limit allows the GEMV's largest build");
#endif
std::atomic<int64_t> g_gemv_max_rows{-1};
}  // namespace

int64_t gemv_max_rows() {
  int64_t v = g_gemv_max_rows.load();
  if (v < 0) {
    v = env_knob("LIL_GEMV_MAX_ROWS", kDefaultGemvMaxRows, 0, kLargestGemvRows);
    g_gemv_max_rows.store(v);
  }
  return v;
}
void set_gemv_max_rows(int64_t rows) {
  g_gemv_max_rows.store(rows >= 0 && rows <= kLargestGemvRows ? rows : kDefaultGemvMaxRows);
}

int64_t fused_linear_max_rows(c10::ScalarType dtype) {
#ifdef LIL_WITH_CUDA
  if (!at::hasCUDA()) return 0;
  if (!tensor_core_linear()) return gemv_max_rows();
  return kernels::mma_linear_supported(elem_type(dtype), kernels::kMmaMaxRows, 8) ? kernels::kMmaMaxRows
                                                                                  : gemv_max_rows();
#else
  (void)dtype;
  return 0;
#endif
}

#ifdef LIL_WITH_CUDA
namespace {
// Whether one kernel takes m rows: the GEMV up to gemv_max_rows(), beyond that the tensor-core kernel when on.
bool one_kernel_rows(int dtype, int64_t m, int64_t k, bool norm) {
  if (m <= gemv_max_rows()) return kernels::gemv_supported(dtype, m, k, norm);
  return tensor_core_linear() && kernels::mma_linear_supported(dtype, m, k);
}
}  // namespace
#endif

bool fused_linear_one_kernel(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o) {
#ifdef LIL_WITH_CUDA
  if (!fused_kernels_available(x) || x.dim() != 2 || w.dim() != 2 || !x.is_contiguous() || !w.is_contiguous()) {
    return false;
  }
  auto same = [&](const at::Tensor& t) { return !t.defined() || (t.is_contiguous() && t.scalar_type() == x.scalar_type()); };
  auto aligned = [](const at::Tensor& t) { return !t.defined() || reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; };
  const int64_t n = o.swiglu ? w.size(0) / 2 : w.size(0);
  return w.scalar_type() == x.scalar_type() && w.size(1) == x.size(1) && same(o.norm_weight) && same(o.bias) &&
         same(o.residual) && aligned(x) && aligned(w) && !(o.swiglu && (o.bias.defined() || w.size(0) % 2 != 0)) &&
         (!o.bias.defined() || o.bias.numel() == n) &&
         (!o.residual.defined() || (o.residual.dim() == 2 && o.residual.size(0) == x.size(0) && o.residual.size(1) == n)) &&
         (!o.norm_weight.defined() || o.norm_weight.numel() == x.size(1)) &&
         aligned(o.norm_weight) &&
         one_kernel_rows(elem_type(x), x.size(0), x.size(1), o.norm_weight.defined());
#else
  (void)x, (void)w, (void)o;
  return false;
#endif
}

#ifdef LIL_WITH_CUDA
namespace {
// The output fused_linear allocates for x @ w^T with o's epilogue.
at::Tensor linear_output(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o) {
  const int64_t n = o.swiglu ? w.size(0) / 2 : w.size(0);
  return at::empty({x.size(0), n}, x.options().dtype(o.float_out ? at::kFloat : x.scalar_type()));
}

// The kernel arguments of one linear layer (operands checked by fused_linear_one_kernel); allocates o.normed.
kernels::GemvArgs gemv_args(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o, const at::Tensor& out) {
  kernels::GemvArgs a;
  a.x = x.data_ptr();
  a.w = w.data_ptr();
  a.bias = o.bias.defined() ? o.bias.data_ptr() : nullptr;
  a.residual = o.residual.defined() ? o.residual.data_ptr() : nullptr;
  a.norm_weight = o.norm_weight.defined() ? o.norm_weight.data_ptr() : nullptr;
  if (o.normed != nullptr && o.norm_weight.defined()) {
    *o.normed = at::empty_like(x);
    a.norm_out = o.normed->data_ptr();
  }
  a.out = out.data_ptr();
  a.m = x.size(0);
  a.n = out.size(1);
  a.k = x.size(1);
  a.eps = static_cast<float>(o.eps);
  a.swiglu = o.swiglu;
  a.out_float = o.float_out;
  int ranges = 0;
  for (const at::Tensor& t : o.l2_prefetch) {
    if (ranges == kernels::kMaxPrefetchRanges) break;
    if (!t.defined() || !t.is_cuda() || !t.is_contiguous() || reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 != 0) {
      continue;
    }
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size()) / 16 * 16;
    if (bytes == 0) continue;
    a.prefetch[ranges].p = t.data_ptr();
    a.prefetch[ranges].bytes = bytes;
    ++ranges;
  }
  return a;
}
}  // namespace
#endif

at::Tensor fused_linear(const at::Tensor& x, const at::Tensor& w, const LinearOptions& o) {
#ifdef LIL_WITH_CUDA
  if (fused_linear_one_kernel(x, w, o)) {
    at::Tensor out = linear_output(x, w, o);
    const kernels::GemvArgs a = gemv_args(x, w, o, out);
    if (x.size(0) <= gemv_max_rows()) kernels::gemv(elem_type(x), a, current_stream());
    else kernels::mma_linear(elem_type(x), a, current_stream());
    check_launch("fused_linear");
    return out;
  }
  if (fused_kernels_available(x)) {
    // Too many rows (or float32 beyond the GEMV's): the separate fused ops and cuBLAS (the residual as addmm's C).
    at::Tensor in = o.norm_weight.defined() ? fused_rms_norm(x.contiguous(), o.norm_weight, o.eps) : x;
    if (o.normed != nullptr && o.norm_weight.defined()) *o.normed = in;
    at::Tensor y;
    if (o.swiglu) {
      y = fused_silu_mul(at::linear(in, w));
      if (o.residual.defined()) y = o.residual + y;
    } else if (o.residual.defined()) {
      y = at::addmm(o.residual, in, w.t());
      if (o.bias.defined()) y = y + o.bias;
    } else {
      y = o.bias.defined() ? at::linear(in, w, o.bias) : at::linear(in, w);
    }
    return o.float_out ? y.to(at::kFloat) : y;
  }
#endif
  return reference_linear(x, w, o);
}

std::vector<at::Tensor> fused_linear_chain(const at::Tensor& x, const std::vector<ChainedLinear>& links) {
  for (size_t i = 0; i < links.size(); ++i) {
    const int earlier = static_cast<int>(i);
    if (links[i].input < -1 || links[i].input >= earlier || links[i].residual < -1 || links[i].residual >= earlier) {
      throw std::invalid_argument("fused_linear_chain: link " + std::to_string(i) +
                                  " reads a link that is not earlier in the chain (input " +
                                  std::to_string(links[i].input) + ", residual " + std::to_string(links[i].residual) + ")");
    }
    if (links[i].o.normed != nullptr) throw std::invalid_argument("fused_linear_chain: LinearOptions::normed is not supported");
  }
  std::vector<at::Tensor> outs;
  outs.reserve(links.size());
  auto input_of = [&](const ChainedLinear& l) -> const at::Tensor& { return l.input < 0 ? x : outs[l.input]; };
  auto options_of = [&](const ChainedLinear& l) {
    LinearOptions o = l.o;
    if (l.residual >= 0) o.residual = outs[l.residual];
    return o;
  };
#ifdef LIL_WITH_CUDA
  if (gemv_chain() && links.size() >= 2 && links.size() <= static_cast<size_t>(kernels::kMaxChainLinks) &&
      fused_kernels_available(x) && x.dim() == 2 && x.size(0) <= gemv_max_rows()) {
    // The outputs first, so that every link is checked on the operands fused_linear would get.
    for (const ChainedLinear& l : links) outs.push_back(linear_output(input_of(l), l.w, l.o));
    kernels::GemvChainArgs chain;
    bool one_kernel = true;
    for (const ChainedLinear& l : links) {
      const at::Tensor& in = input_of(l);
      const LinearOptions o = options_of(l);
      one_kernel = one_kernel && in.scalar_type() == x.scalar_type() && fused_linear_one_kernel(in, l.w, o);
      if (!one_kernel) break;
      chain.link[chain.links] = gemv_args(in, l.w, o, outs[chain.links]);
      ++chain.links;
    }
    if (one_kernel && kernels::gemv_chain_supported(elem_type(x), chain)) {
      kernels::gemv_chain(elem_type(x), chain, current_stream());
      check_launch("fused_linear_chain");
      return outs;
    }
    outs.clear();
  }
#endif
  for (const ChainedLinear& l : links) outs.push_back(fused_linear(input_of(l), l.w, options_of(l)));
  return outs;
}

// ---- the Qwen2-MoE block for a few tokens ----
bool fused_moe_supported(const MoeWeights& w, const at::Tensor& x, int64_t top_k) {
#ifdef LIL_WITH_CUDA
  if (!w.router_and_gate.defined() || !w.experts_gate_up.defined() || !w.shared_expert.gate_up.defined() ||
      w.shared_expert.down_bias.defined() || !fused_kernels_available(x) || x.dim() != 2 || !x.is_contiguous() ||
      !w.experts_down_proj.is_contiguous() || !w.shared_expert.down_proj.is_contiguous() ||
      !w.shared_expert.gate_up.is_contiguous() || !w.experts_gate_up.is_contiguous()) {
    return false;
  }
  return kernels::moe_small_supported(elem_type(x), x.size(0), x.size(1), w.num_experts(), top_k,
                                      w.experts_down_proj.size(2), w.shared_expert.down_proj.size(1));
#else
  (void)w, (void)x, (void)top_k;
  return false;
#endif
}

at::Tensor fused_moe_block(const MoeWeights& w, const at::Tensor& x, const at::Tensor& norm_weight, double eps,
                           int64_t top_k, bool norm_topk_prob) {
#ifdef LIL_WITH_CUDA
  require(fused_moe_supported(w, x, top_k), "fused_moe_block", "a fused MoE layer and a few contiguous CUDA rows");
  at::Tensor normed;
  LinearOptions router;
  router.norm_weight = norm_weight;
  router.eps = eps;
  router.normed = &normed;
  at::Tensor logits = fused_linear(x, w.router_and_gate, router);  // [m, E + 1]
  const int64_t m = x.size(0), inter = w.experts_down_proj.size(2), shared = w.shared_expert.down_proj.size(1);
  kernels::MoeSmallArgs a;
  at::Tensor sel_experts = at::empty({m, top_k}, x.options().dtype(at::kInt));
  at::Tensor sel_weights = at::empty({m, top_k}, x.options().dtype(at::kFloat));
  at::Tensor h_routed = at::empty({m, top_k, inter}, x.options());
  at::Tensor h_shared = at::empty({m, shared}, x.options());
  at::Tensor out = at::empty_like(x);
  a.xn = normed.data_ptr();
  a.logits = logits.data_ptr();
  a.experts_gate_up = w.experts_gate_up.data_ptr();
  a.experts_down = w.experts_down_proj.data_ptr();
  a.shared_gate_up = w.shared_expert.gate_up.data_ptr();
  a.shared_down = w.shared_expert.down_proj.data_ptr();
  a.residual = x.data_ptr();
  a.sel_experts = sel_experts.data_ptr<int32_t>();
  a.sel_weights = sel_weights.data_ptr<float>();
  a.h_routed = h_routed.data_ptr();
  a.h_shared = h_shared.data_ptr();
  a.out = out.data_ptr();
  a.m = m;
  a.k = x.size(1);
  a.experts = w.num_experts();
  a.top_k = top_k;
  a.inter = inter;
  a.shared_inter = shared;
  a.norm_topk_prob = norm_topk_prob;
  kernels::moe_small_up(elem_type(x), a, current_stream());
  check_launch("fused_moe_block (experts up)");
  kernels::moe_small_down(elem_type(x), a, current_stream());
  check_launch("fused_moe_block (experts down)");
  return out;
#else
  (void)w, (void)x, (void)norm_weight, (void)eps, (void)top_k, (void)norm_topk_prob;
  no_cuda("fused_moe_block");
#endif
}

}  // namespace lil
