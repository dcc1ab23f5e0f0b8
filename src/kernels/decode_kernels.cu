#include "kernels/decode_kernels.h"
#include "kernels/cuda_common.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

namespace lil::kernels {

namespace {

// ---------------------------------------------------------------------------------------------------------
template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ out, int64_t hidden,
                                float eps) {
  pdl_wait();
  pdl_trigger();
  const int64_t row = blockIdx.x;
  const T* xr = x + row * hidden;
  T* yr = out + row * hidden;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float v = to_float(xr[i]);
    sum += v * v;
  }
  __shared__ float warp_sums[32];
  sum = warp_sum(sum);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    const int warps = (blockDim.x + 31) / 32;
    float s = lane < warps ? warp_sums[lane] : 0.f;
    s = warp_sum(s);
    if (lane == 0) warp_sums[0] = s;
  }
  __syncthreads();
  const float inv = rsqrtf(warp_sums[0] / static_cast<float>(hidden) + eps);
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float normed = round_to<T>(to_float(xr[i]) * inv);
    yr[i] = from_float<T>(to_float(w[i]) * normed);
  }
}

// One RoPE'd element as Hugging Face computes it in T: x cos + rotate_half(x) sin, each product and the sum
// rounded to T (rot: the rotate_half partner, negated for the first half).
template <typename T>
__device__ __forceinline__ float rope_rounded(float x, float rot, float c, float s) {
  return round_to<T>(round_to<T>(x * c) + round_to<T>(rot * s));
}

// ---------------------------------------------------------------------------------------------------------
template <typename T>
__global__ void rope_append_kernel(RopeAppendArgs a) {
  pdl_wait();
  pdl_trigger();
  const int64_t b = blockIdx.x, h = blockIdx.y, i = threadIdx.x;
  const int64_t d = a.head_dim, half = d / 2;
  const int64_t hq = a.n_q_heads, hkv = a.n_kv_heads;
  const int64_t pos = a.positions[b];
  const T* row = static_cast<const T*>(a.qkv) + b * (hq + 2 * hkv) * d;
  const T* cos_row = static_cast<const T*>(a.cos) + pos * d;
  const T* sin_row = static_cast<const T*>(a.sin) + pos * d;
  const float c0 = to_float(cos_row[i]), c1 = to_float(cos_row[i + half]);
  const float s0 = to_float(sin_row[i]), s1 = to_float(sin_row[i + half]);
  auto rotate = [&](const T* src, T* dst) {
    const float x0 = to_float(src[i]), x1 = to_float(src[i + half]);
    // rotate_half(x) = cat(-x[half:], x[:half])
    dst[i] = from_float<T>(rope_rounded<T>(x0, -x1, c0, s0));
    dst[i + half] = from_float<T>(rope_rounded<T>(x1, x0, c1, s1));
  };
  if (h < hq) {
    rotate(row + h * d, static_cast<T*>(a.q_out) + (b * hq + h) * d);
    return;
  }
  const int64_t j = h - hq;
  const T* k_src = row + (hq + j) * d;
  const T* v_src = row + (hq + hkv + j) * d;
  rotate(k_src, static_cast<T*>(a.k_out) + (b * hkv + j) * d);
  T* v_dst = static_cast<T*>(a.v_out) + (b * hkv + j) * d;
  v_dst[i] = v_src[i];
  v_dst[i + half] = v_src[i + half];
}

// ---------------------------------------------------------------------------------------------------------
constexpr int kAttnWarps = 4;
constexpr int kAttnMaxGroup = 8;  // query heads per KV head; kernels are built for 1, 2, 4 and 8
constexpr int kAttnUnroll = 4;
// f(std::integral_constant<int, 0>()), f(..1..), ... while f returns true: a loop over I whose body sees I
// as a constant (register arrays indexed by it stay in registers).
template <int... I, typename F>
__device__ __forceinline__ void unrolled_while(std::integer_sequence<int, I...>, F&& f) {
  (void)(f(std::integral_constant<int, I>()) && ...);
}

// Output of query head bh (= b * Hq + head) from the splits' partials, one block of D threads. Every load that
// does not depend on another goes out first: each thread's first kCombineBatch partial values of its dimension
// and the splits' maxima and denominators (to shared memory, in parallel over the splits); then the maximum,
// the splits' scales and the total, then the sum over the splits, with kCombineBatch loads in flight, so the
// block waits for about two memory round trips whatever the number of splits.
constexpr int kCombineBatch = 32;
template <typename T, int D>
__global__ void attention_combine_kernel(DecodeAttentionArgs a) {
  pdl_wait();
  pdl_trigger();
  extern __shared__ float scale[];  // [splits] scales, then [splits] denominators
  float* denom = scale + a.splits;
  __shared__ float red[D / 32];
  __shared__ float total;
  const int64_t bh = blockIdx.x;
  const int d = threadIdx.x, warp = d / 32, lane = d % 32;
  const float* part = a.partial + bh * a.splits * (D + 2);
  float v[kCombineBatch];
#pragma unroll
  for (int u = 0; u < kCombineBatch; ++u) v[u] = u < a.splits ? part[u * (D + 2) + d] : 0.f;
  float big = -INFINITY;
  for (int64_t s = d; s < a.splits; s += D) {
    const float ms = part[s * (D + 2) + D];
    scale[s] = ms;  // the maximum for now
    denom[s] = part[s * (D + 2) + D + 1];
    big = fmaxf(big, ms);
  }
  for (int offset = 16; offset > 0; offset >>= 1) big = fmaxf(big, __shfl_xor_sync(0xffffffffu, big, offset));
  if (lane == 0) red[warp] = big;
  __syncthreads();
  big = red[0];
#pragma unroll
  for (int w = 1; w < D / 32; ++w) big = fmaxf(big, red[w]);
  float sum = 0.f;
  for (int64_t s = d; s < a.splits; s += D) {
    const float ms = scale[s];
    const float w = ms == -INFINITY ? 0.f : exp2f(ms - big);  // maxima in base 2
    scale[s] = w;
    sum += denom[s] * w;
  }
  sum = warp_sum(sum);
  __syncthreads();  // red is reused, scale is complete
  if (lane == 0) red[warp] = sum;
  __syncthreads();
  if (d == 0) {
    float t = 0.f;
#pragma unroll
    for (int w = 0; w < D / 32; ++w) t += red[w];
    total = t;
  }
  __syncthreads();
  float out = 0.f;
  for (int64_t s0 = 0; s0 < a.splits; s0 += kCombineBatch) {
    if (s0 > 0) {
#pragma unroll
      for (int u = 0; u < kCombineBatch; ++u) v[u] = s0 + u < a.splits ? part[(s0 + u) * (D + 2) + d] : 0.f;
    }
#pragma unroll
    for (int u = 0; u < kCombineBatch; ++u) {
      if (s0 + u < a.splits) out += v[u] * scale[s0 + u];
    }
  }
  static_cast<T*>(a.out)[bh * D + d] = from_float<T>(total > 0.f ? out / total : 0.f);
  if (a.evict && d == 0) {  // an eviction step: record the victim slot, keep the head's softmax statistics
    const int64_t group = a.n_q_heads / a.n_kv_heads, b = bh / a.n_q_heads, head = bh % a.n_q_heads;
    if (head % group == 0) {
      const int64_t row = b * a.n_kv_heads + head / group, slot = a.chosen[row];
      a.slot_positions[row * a.capacity + slot] = a.positions[b];
      a.scores[row * a.capacity + slot] = 0.f;
    }
    if (a.head_stats != nullptr) {
      a.head_stats[2 * bh] = big;
      a.head_stats[2 * bh + 1] = total;
    }
  }
}

// An eviction step's score update (DecodeAttentionArgs, update != 0), after the combine: per cache row
// (b, KV head) and slot, the attention probability of each query head of the group from its base-2 score and
// the head's maximum and denominator, summed over the group in head order; added to the slot's score (H2O)
// or stored as the mean over the group (TOVA). Empty slots get probability 0. Blocks (row, part): the row's slots
// split over gridDim.y blocks (one slot per thread up to 64 x 256 slots, more beyond), the group's head statistics
// loaded once per thread.
constexpr int kUpdateThreads = 256;
__global__ void __launch_bounds__(kUpdateThreads) eviction_update_kernel(DecodeAttentionArgs a) {
  pdl_wait();
  pdl_trigger();
  const int64_t row = blockIdx.x, group = a.n_q_heads / a.n_kv_heads;
  const int64_t b = row / a.n_kv_heads, h = row % a.n_kv_heads;
  const int64_t head0 = b * a.n_q_heads + h * group;
  float big[kAttnMaxGroup], total[kAttnMaxGroup];
#pragma unroll
  for (int g = 0; g < kAttnMaxGroup; ++g) {
    big[g] = g < group ? a.head_stats[2 * (head0 + g)] : 0.f;
    total[g] = g < group ? a.head_stats[2 * (head0 + g) + 1] : 0.f;
  }
  const int64_t stride = static_cast<int64_t>(gridDim.y) * blockDim.x;
  for (int64_t j = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < a.capacity; j += stride) {
    float p = 0.f;
#pragma unroll
    for (int g = 0; g < kAttnMaxGroup; ++g) {
      if (g >= group) break;
      const float l = a.logits[(head0 + g) * a.capacity + j];
      p += l == -INFINITY || !(total[g] > 0.f) ? 0.f : exp2f(l - big[g]) / total[g];
    }
    float* score = a.scores + row * a.capacity + j;
    *score = a.update == 1 ? *score + p : p / static_cast<float>(group);
  }
}

// P consecutive elements of T (P * sizeof(T) bytes, aligned to that) loaded in one access, as float.
template <typename T, int P>
struct alignas(P * sizeof(T)) Pack {
  T e[P];
};
template <typename T, int P>
__device__ __forceinline__ void load_pack(const T* p, float (&out)[P]) {
  const Pack<T, P> r = *reinterpret_cast<const Pack<T, P>*>(p);
#pragma unroll
  for (int e = 0; e < P; ++e) out[e] = to_float(r.e[e]);
}

// The decode token's key and value (lane l's P dimensions, already RoPE'd for the key) rounded to T and stored
// at element offset `at` of the caches k and v; returns the stored key.
template <typename T, int P>
__device__ __forceinline__ Pack<T, P> store_token(void* k, void* v, int64_t at, const float (&kx)[P],
                                                  const float (&vx)[P]) {
  Pack<T, P> kp, vp;
#pragma unroll
  for (int e = 0; e < P; ++e) {
    kp.e[e] = from_float<T>(kx[e]);
    vp.e[e] = from_float<T>(vx[e]);
  }
  *reinterpret_cast<Pack<T, P>*>(static_cast<T*>(k) + at) = kp;
  *reinterpret_cast<Pack<T, P>*>(static_cast<T*>(v) + at) = vp;
  return kp;
}

// RoPE of one head held across a warp (lane l: dimensions [l P, l P + P) of D = 32 P), in place, all 32 lanes
// together: rotate_half's partner dimensions (i +- D/2) are lane l ^ 16's; Hugging Face's roundings in T.
template <typename T, int P>
__device__ __forceinline__ void rope_lane(float (&x)[P], const float (&cs)[P], const float (&sn)[P], int lane) {
#pragma unroll
  for (int e = 0; e < P; ++e) {
    const float other = __shfl_xor_sync(0xffffffffu, x[e], 16);
    const float rot = lane < 16 ? -other : other;
    x[e] = rope_rounded<T>(x[e], rot, cs[e], sn[e]);
  }
}

// The decode token of row b as KV head h's warp needs it, lane l holding dimensions [l P, l P + P) (P = D / 32):
// the group's query heads (kMaxGroup, padding heads load the group's first and are zeroed by the caller), the
// key and value from the fused projection qkv [B, (Hq + 2 Hkv) D], and the RoPE tables at the token's position,
// which is returned. All loads but the tables' go out unconditionally, together.
template <typename T, int D, int kMaxGroup>
__device__ __forceinline__ int64_t load_token_heads(const void* qkv, const void* cos, const void* sin,
                                                    const int64_t* positions, int64_t b, int64_t h, int64_t hq,
                                                    int64_t hkv, int lane, float (&q)[kMaxGroup][D / 32],
                                                    float (&kx)[D / 32], float (&vx)[D / 32], float (&cs)[D / 32],
                                                    float (&sn)[D / 32]) {
  constexpr int P = D / 32;
  const int64_t group = hq / hkv;
  const T* row = static_cast<const T*>(qkv) + b * (hq + 2 * hkv) * D;
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) load_pack<T, P>(row + (h * group + (g < group ? g : 0)) * D + lane * P, q[g]);
  load_pack<T, P>(row + (hq + h) * D + lane * P, kx);
  load_pack<T, P>(row + (hq + hkv + h) * D + lane * P, vx);
  const int64_t pos = positions[b];
  load_pack<T, P>(static_cast<const T*>(cos) + pos * D + lane * P, cs);
  load_pack<T, P>(static_cast<const T*>(sin) + pos * D + lane * P, sn);
  return pos;
}

// load_token_heads for a selection kernel (DecodeAttentionArgs `t`), then RoPE of the group's query heads in
// place (padding heads zeroed).
template <typename T, int D, int kMaxGroup>
__device__ __forceinline__ int64_t load_roped_token(const DecodeAttentionArgs& t, int64_t b, int64_t h, int lane,
                                                    float (&q)[kMaxGroup][D / 32], float (&kx)[D / 32],
                                                    float (&vx)[D / 32], float (&cs)[D / 32], float (&sn)[D / 32]) {
  const int64_t group = t.n_q_heads / t.n_kv_heads;
  const int64_t pos =
      load_token_heads<T, D, kMaxGroup>(t.qkv, t.cos, t.sin, t.positions, b, h, t.n_q_heads, t.n_kv_heads, lane, q, kx,
                                        vx, cs, sn);
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g < group) {
      rope_lane<T>(q[g], cs, sn, lane);
    } else {
#pragma unroll
      for (int e = 0; e < D / 32; ++e) q[g][e] = 0.f;
    }
  }
  return pos;
}

// Sums each of N per-lane values (N = 2^L <= 32) over the warp's 32 lanes, transposed: every reduction level
// halves the values a lane carries (a lane keeps one half, sends the other to its partner), so N sums take
// N - 1 shuffles in all instead of 5 N. Lane l gets back the total of value l >> (5 - L).
template <int N, int kOffset = 16>
__device__ __forceinline__ float transpose_sum(float (&v)[N]) {
  static_assert(N >= 1 && N <= 32 && (N & (N - 1)) == 0, "N is a power of two up to 32");
  if constexpr (kOffset == 0) {
    return v[0];
  } else if constexpr (N == 1) {
    v[0] += __shfl_xor_sync(0xffffffffu, v[0], kOffset);
    return transpose_sum<1, kOffset / 2>(v);
  } else {
    const bool upper = (threadIdx.x & kOffset) != 0;
    float half[N / 2];
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const float send = upper ? v[i] : v[i + N / 2];
      const float keep = upper ? v[i + N / 2] : v[i];
      half[i] = keep + __shfl_xor_sync(0xffffffffu, send, kOffset);
    }
    return transpose_sum<N / 2, kOffset / 2>(half);
  }
}

// The slot an eviction step writes (DecodeAttentionArgs, `evict`), for cache row `row` (= b * Hkv + h) when
// position `pos` is written; the same in every thread of the block, and in every block of the row (they read
// the same slot_positions and scores, which no block writes). The rule of KVCache::decode_attention: the
// first empty slot, else the lowest (key, position) with protected slots keyed +infinity, so the oldest token
// wins among equal keys and, when every slot is protected, overall.
template <int kThreads>
__device__ int64_t choose_victim(const DecodeAttentionArgs& a, int64_t row, int64_t pos) {
  constexpr int64_t kNone = 0x7fffffffffffffffLL;
  constexpr int kWarps = kThreads / 32;
  const int64_t* sp = a.slot_positions + row * a.capacity;
  const float* sc = a.scores + row * a.capacity;
  int64_t first_empty = kNone, best_pos = kNone, best_slot = 0;
  float best_key = INFINITY;
  for (int64_t j = threadIdx.x; j < a.capacity; j += kThreads) {
    const int64_t p = sp[j];
    const float score = sc[j];
    if (p < 0) {
      if (j < first_empty) first_empty = j;
      continue;
    }
    const bool guarded = p < a.protect_below || p > pos - a.protect_recent;
    const float key = guarded ? INFINITY : a.key_is_position ? static_cast<float>(p) : score;
    if (key < best_key || (key == best_key && p < best_pos)) {
      best_key = key;
      best_pos = p;
      best_slot = j;
    }
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float k = __shfl_xor_sync(0xffffffffu, best_key, offset);
    const int64_t p = __shfl_xor_sync(0xffffffffu, best_pos, offset);
    const int64_t j = __shfl_xor_sync(0xffffffffu, best_slot, offset);
    const int64_t e = __shfl_xor_sync(0xffffffffu, first_empty, offset);
    if (k < best_key || (k == best_key && p < best_pos)) {
      best_key = k;
      best_pos = p;
      best_slot = j;
    }
    if (e < first_empty) first_empty = e;
  }
  __shared__ float s_key[kWarps];
  __shared__ int64_t s_pos[kWarps], s_slot[kWarps], s_empty[kWarps];
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) {
    s_key[warp] = best_key;
    s_pos[warp] = best_pos;
    s_slot[warp] = best_slot;
    s_empty[warp] = first_empty;
  }
  __syncthreads();
  best_key = s_key[0];
  best_pos = s_pos[0];
  best_slot = s_slot[0];
  first_empty = s_empty[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) {
    if (s_key[w] < best_key || (s_key[w] == best_key && s_pos[w] < best_pos)) {
      best_key = s_key[w];
      best_pos = s_pos[w];
      best_slot = s_slot[w];
    }
    if (s_empty[w] < first_empty) first_empty = s_empty[w];
  }
  return first_empty != kNone ? first_empty : best_slot;
}

// The block's partial for its split (b, h, split), from each warp's maximum (base 2), denominator and output
// per query head of the group in shared memory (written before a __syncthreads): per head, the block's maximum,
// the warps' scales to it and the block's denominator (one thread per head), then each output dimension is a
// sum of the warps' accumulators times those scales.
template <int D, int kMaxGroup>
__device__ void write_block_partial(const DecodeAttentionArgs& a, int64_t b, int64_t h, int64_t split,
                                    const float (*sm_m)[kMaxGroup], const float (*sm_l)[kMaxGroup],
                                    const float (*sm_acc)[kMaxGroup][D]) {
  const int64_t group = a.n_q_heads / a.n_kv_heads;
  __shared__ float sm_scale[kAttnWarps][kMaxGroup], sm_big[kMaxGroup], sm_sum[kMaxGroup];
  if (threadIdx.x < group) {
    const int g = threadIdx.x;
    float big = -INFINITY;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) big = fmaxf(big, sm_m[w][g]);
    float sum = 0.f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) {
      const float sc = sm_m[w][g] == -INFINITY ? 0.f : exp2f(sm_m[w][g] - big);
      sm_scale[w][g] = sc;
      sum += sm_l[w][g] * sc;
    }
    sm_big[g] = big;
    sm_sum[g] = sum;
  }
  __syncthreads();
  for (int64_t idx = threadIdx.x; idx < group * D; idx += blockDim.x) {
    const int64_t g = idx / D, d = idx % D;
    float out = 0.f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) out += sm_acc[w][g][d] * sm_scale[w][g];
    float* part = a.partial + ((b * a.n_q_heads + h * group + g) * a.splits + split) * (D + 2);
    part[d] = out;
    if (d == 0) {
      part[D] = sm_big[g];
      part[D + 1] = sm_sum[g];
    }
  }
}

// One block per (split, KV head, sequence); each warp takes kAttnUnroll (U) consecutive tokens per iteration,
// each lane D / 32 dimensions of them.
// - Latency: the dependent memory round trips before the first score are two: the first iteration's keys and
//   values, the position, the query heads and the token's own key and value (none of which depends on the
//   position; slots past the sequence are read and ignored) in the first, the RoPE tables at the position in
//   the second. Each iteration's loads are issued before the previous iteration's tokens are scored.
// - Work per token: the U x G partial dot products (G = kMaxGroup query heads of the KV head) are summed over
//   the lanes transposed (U G - 1 shuffles, lane l ends with score (u, g) = l >> (5 - L)), the online softmax
//   runs once per iteration and query head (one maximum, one rescale) in base 2 (the query carries log2 e), and
//   the probabilities reach the lanes' output dimensions through the warp's slice of shared memory.
// - kMode kEvict: an eviction policy's step (DecodeAttentionArgs): the victim slot from choose_victim, every
//   valid slot of the chunk attended (each lane loads its token's slot position with the keys), the scores kept.
// - kMode kGather: the tokens of listed pages (Quest), their page numbers staged in shared memory first; no
//   write.
constexpr int kFull = 0, kEvict = 1, kGather = 2;
template <typename T, int D, int kMaxGroup, int kMode>
__global__ void __launch_bounds__(kAttnWarps * 32, 2) attention_split_kernel(DecodeAttentionArgs a) {
  pdl_wait();
  pdl_trigger();
  constexpr bool kValidity = kMode != kFull;  // empty slots among the attended ones, checked per token
  constexpr int kPerLane = D / 32;
  constexpr int U = kAttnUnroll;
  constexpr int N = U * kMaxGroup;              // scores per warp and iteration
  constexpr int kCopies = 32 / N;               // lanes holding each score after transpose_sum
  static_assert(U == 4, "the tile maximum below reduces over lane bits 3 and 4");
  const int64_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t hq = a.n_q_heads, hkv = a.n_kv_heads, group = hq / hkv;
  const int64_t span = kMode == kGather ? a.selected : a.capacity;  // tokens the splits divide
  const int64_t start = split * a.chunk;
  const int64_t chunk_end = start + a.chunk < span ? start + a.chunk : span;
  const T* keys = static_cast<const T*>(a.k) + (b * hkv + h) * a.capacity * D;
  const T* values = static_cast<const T*>(a.v) + (b * hkv + h) * a.capacity * D;
  // Gather: the chunk's page numbers (dynamic shared memory, chunk / page_size + 2 entries).
  extern __shared__ int32_t chunk_pages[];
  const int64_t first_page = kMode == kGather ? start / a.page_size : 0;
  if constexpr (kMode == kGather) {
    const int64_t count = (chunk_end - 1) / a.page_size - first_page + 1;
    const int32_t* listed = a.pages + (b * hkv + h) * (a.selected / a.page_size);
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) chunk_pages[i] = listed[first_page + i];
    __syncthreads();
  }
  auto slot_of = [&](int64_t j) -> int64_t {  // the cache slot of listed token j (may be past the capacity)
    if constexpr (kMode == kGather) {
      const int64_t pg = j / a.page_size;
      return static_cast<int64_t>(chunk_pages[pg - first_page]) * a.page_size + (j - pg * a.page_size);
    } else {
      return j;
    }
  };
  auto load_tokens = [&](int64_t base, float (&k)[U][kPerLane], float (&v)[U][kPerLane]) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      int64_t j = slot_of(base + u < chunk_end ? base + u : chunk_end - 1);  // ignored past the end
      if (kMode == kGather && j >= a.capacity) j = a.capacity - 1;           // ignored too (not valid)
      load_pack<T, kPerLane>(keys + j * D + lane * kPerLane, k[u]);
      load_pack<T, kPerLane>(values + j * D + lane * kPerLane, v[u]);
    }
  };
  constexpr int64_t kStride = kAttnWarps * U;
  int64_t base = start + warp * U;
  float kc[U][kPerLane], vc[U][kPerLane];
  load_tokens(base, kc, vc);  // speculative: before the position is read
  // This lane's score after transpose_sum: token my_u, query head my_g of an iteration's tile.
  const int my_idx = lane / kCopies, my_u = my_idx / kMaxGroup, my_g = my_idx % kMaxGroup;
  // kValidity: the slot position of this lane's token my_u, < 0 = empty.
  const int64_t* slot_pos_row = a.slot_positions + (b * hkv + h) * a.capacity;
  auto lane_slot_pos = [&](int64_t at) -> int64_t {
    const int64_t j = slot_of(at + my_u < chunk_end ? at + my_u : chunk_end - 1);
    return j < a.capacity ? slot_pos_row[j] : -1;
  };
  int64_t sp_cur = 0;
  if constexpr (kValidity) sp_cur = lane_slot_pos(base);

  // RoPE of the query heads is computed here, and the block whose chunk holds the token's slot writes its roped
  // key and its value into the cache (what rope_append would do in a kernel of its own); that block's
  // speculative loads of the slot are patched from shared memory. Lane l holds dimensions [l P, l P + P);
  // rotate_half's partner dimensions (i +- D/2) are lane l ^ 16's, taken by a shuffle, so each head is one
  // packed load per lane. Every load here is unconditional (padding heads load head 0, then are zeroed): a
  // load behind a branch waits for the round trip before it, and the query heads' loads went out one by one.
  float q[kMaxGroup][kPerLane], kx[kPerLane], vx[kPerLane], cs[kPerLane], sn[kPerLane];
  const int64_t pos = load_token_heads<T, D, kMaxGroup>(a.qkv, a.cos, a.sin, a.positions, b, h, hq, hkv, lane, q, kx,
                                                        vx, cs, sn);
  // The slot the token goes to and the end of the slots this block attends: for `full` slot i holds position
  // i, so [start, min(chunk end, pos + 1)); an eviction step looks at the whole chunk (validity per token).
  int64_t slot, end;
  if constexpr (kMode == kEvict) {
    slot = choose_victim<kAttnWarps * 32>(a, b * hkv + h, pos);
    end = chunk_end;
    if (split == 0 && threadIdx.x == 0) a.chosen[b * hkv + h] = slot;
  } else if constexpr (kMode == kGather) {
    slot = -1;  // written by quest_select
    end = chunk_end;
  } else {
    const int64_t len = pos + 1 < a.capacity ? pos + 1 : a.capacity;
    slot = len - 1;
    end = chunk_end < len ? chunk_end : len;
  }
  auto rope = [&](float (&x)[kPerLane]) { rope_lane<T>(x, cs, sn, lane); };
  constexpr float kLog2e = 1.4426950408889634f;
  const float q_scale = a.softmax_scale * kLog2e;  // scores in base 2
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g < group) {  // the same in every lane: the shuffles see the whole warp
      rope(q[g]);
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) q[g][e] *= q_scale;
    } else {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) q[g][e] = 0.f;
    }
  }
  __shared__ float new_k[D], new_v[D];
  const bool owns_slot = slot >= start && slot < end;  // the same for the whole block
  if (owns_slot) {
    if (warp == 0) {
      rope(kx);
      store_token<T, kPerLane>(a.k, a.v, ((b * hkv + h) * a.capacity + slot) * D + lane * kPerLane, kx, vx);
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        new_k[lane * kPerLane + e] = kx[e];
        new_v[lane * kPerLane + e] = vx[e];
      }
      // (An eviction step records the slot in the combine kernel: the other blocks are still choosing it.)
      if (kMode == kFull && lane == 0 && a.slot_positions != nullptr) {
        a.slot_positions[(b * hkv + h) * a.capacity + slot] = pos;
      }
    }
    __syncthreads();  // the cache writes and new_k/new_v are visible to the block from here on
  }
  // Running maximum (base 2) and denominator of head my_g (the lanes of one head agree on m; l is this lane's
  // share, summed at the end); acc: the lane's output dimensions of every head.
  float* logits_row =
      kMode == kEvict && a.logits != nullptr ? a.logits + (b * hq + h * group + my_g) * a.capacity : nullptr;
  float m = -INFINITY, l = 0.f;
  float acc[kMaxGroup][kPerLane];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) acc[g][e] = 0.f;
  }
  __shared__ __align__(16) float probs[kAttnWarps][N + kMaxGroup];  // per warp: p[u][g], then the rescales
  for (; base < end; base += kStride) {
    float kn[U][kPerLane], vn[U][kPerLane];
    const bool more = base + kStride < end;
    if (more) load_tokens(base + kStride, kn, vn);  // in flight while this iteration's tokens are scored
    int64_t sp_next = 0;
    if (kValidity && more) sp_next = lane_slot_pos(base + kStride);
    if (owns_slot && slot >= base && slot < base + U) {  // loaded before the append: take the new token's
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (base + u != slot) continue;
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) {
          kc[u][e] = new_k[lane * kPerLane + e];
          vc[u][e] = new_v[lane * kPerLane + e];
        }
      }
    }
    float s[N];
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) {
        float dot = 0.f;
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) dot += q[g][e] * kc[u][e];
        s[u * kMaxGroup + g] = dot;
      }
    }
    float score = transpose_sum(s);
    if (base + my_u >= end) score = -INFINITY;  // past the sequence (token 0 of an iteration never is)
    if constexpr (kValidity) {
      if (sp_cur < 0 && base + my_u != slot) score = -INFINITY;  // an empty slot
      if (logits_row != nullptr && lane % kCopies == 0 && my_g < group && base + my_u < end) {
        logits_row[base + my_u] = score;
      }
    }
    float tile_max = fmaxf(score, __shfl_xor_sync(0xffffffffu, score, 8));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 16));
    const float m_new = fmaxf(m, tile_max);
    // An eviction step's tile can be all empty slots: keep the -inf maximum from making 0 * inf.
    const float m_ref = kValidity && m_new == -INFINITY ? 0.f : m_new;
    const float rescale = exp2f(m - m_ref);  // 0 on the first iteration (m = -inf)
    const float p = exp2f(score - m_ref);
    l = l * rescale + p;
    m = m_new;
    if (lane % kCopies == 0) {
      probs[warp][my_idx] = p;
      if (my_u == 0) probs[warp][N + my_g] = rescale;
    }
    __syncwarp();
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= group) break;
      const float r = probs[warp][N + g];
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) acc[g][e] *= r;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const float pu = probs[warp][u * kMaxGroup + g];
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) acc[g][e] += pu * vc[u][e];
      }
    }
    __syncwarp();  // probs is rewritten by the next iteration
    if constexpr (kValidity) sp_cur = sp_next;
    if (more) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) {
          kc[u][e] = kn[u][e];
          vc[u][e] = vn[u][e];
        }
      }
    }
  }
  // Combine the warps of the block. A head's denominator is the sum of its lanes' shares (the U token lanes;
  // the kCopies lanes of a score hold equal copies).
  l += __shfl_xor_sync(0xffffffffu, l, 8);
  l += __shfl_xor_sync(0xffffffffu, l, 16);
  __shared__ float sm_m[kAttnWarps][kMaxGroup], sm_l[kAttnWarps][kMaxGroup];
  __shared__ float sm_acc[kAttnWarps][kMaxGroup][D];
  if (my_u == 0 && lane % kCopies == 0) {
    sm_m[warp][my_g] = m;
    sm_l[warp][my_g] = l;
  }
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g >= group) break;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) sm_acc[warp][g][lane * kPerLane + e] = acc[g][e];
  }
  __syncthreads();
  write_block_partial<D, kMaxGroup>(a, b, h, split, sm_m, sm_l, sm_acc);
}

// ---------------------------------------------------------------------------------------------------------
// `full` and gathered (Quest's pages, InfLLM's slot list) attention on the tensor cores, for bf16 / fp16 caches:
// attention_split_kernel's grid, chunks and partials (the combine kernel is the same), but each warp takes tiles
// of kTile = 16 tokens and computes with mma.m16n8k16 (float accumulation)
//   S^T [16 tokens x 8 heads] = K [16 x D] Q^T [D x 8]        (the group's query heads, zeros past the group)
//   O^T [D x 8 heads]        += V^T [D x 16] P^T [16 x 8]      (P: the tile's probabilities rounded to T)
// instead of ~120 scalar instructions per token: at batch 32 the scalar kernel is bound by its instruction issue,
// not by memory. Lane (r = lane / 4, t = lane % 4) loads 16 bytes of tokens r and r + 8 of a tile at dimensions
// 32 c + 8 t .. + 8 of every 32-dimension chunk c, for K and V alike, and its query head r the same way. A dot
// product does not depend on the order of its terms, so K's and Q's fragments take those dimensions in that
// order (k-step 2c + s: elements 4s .. 4s + 3), and RoPE's pairs (d, d + D/2) stay within a lane. V^T's and
// P^T's fragments are 8x8 transposes in registers (movmatrix). Q and K enter the products exactly (both hold
// T values: the split kernel rounds the RoPE'd query to T too); the tensor cores sum the products in float and
// the scale is applied to the sums; P is rounded to T before P V, as Hugging Face's eager attention does
// (softmax in float32, then cast to the model dtype).
constexpr int kTile = 16;
constexpr int kMmaHeads = 8;  // the N of the tiles: a group of up to 8 query heads
static_assert(kMmaHeads >= kAttnMaxGroup, "every group decode_attention_supports fits the tiles");

// Lane t's 16 bytes of each 32-dimension chunk of a row of D elements: dimensions 32 c + 8 t .. + 8.
template <typename T, int D>
__device__ __forceinline__ void load_chunks(const T* row, int t, uint4 (&x)[D / 32]) {
#pragma unroll
  for (int c = 0; c < D / 32; ++c) x[c] = *reinterpret_cast<const uint4*>(row + c * 32 + t * 8);
}

// RoPE of a lane's chunks (load_chunks' dimensions, as float), element by element as rope_lane: dimension d's
// rotate_half partner d +- D/2 is element e of chunk c +- D/64, the same lane's.
template <typename T, int D>
__device__ __forceinline__ void rope_chunks(float (&x)[D / 32][8], const float (&cs)[D / 32][8],
                                            const float (&sn)[D / 32][8]) {
  constexpr int C = D / 32, H = C / 2;
  float out[C][8];
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float rot = c < H ? -x[(c + H) % C][e] : x[(c + H) % C][e];
      out[c][e] = rope_rounded<T>(x[c][e], rot, cs[c][e], sn[c][e]);
    }
  }
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int e = 0; e < 8; ++e) x[c][e] = out[c][e];
  }
}

// 32-bit word i (two T elements) of a 16-byte vector.
__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

template <typename T, int D, int kMode>
__global__ void __launch_bounds__(kAttnWarps * 32, 2) attention_mma_kernel(DecodeAttentionArgs a) {
  static_assert(kMode == kFull || kMode == kGather, "the tensor-core kernel attends a whole cache or a list");
  pdl_wait();
  pdl_trigger();
  constexpr bool kGathered = kMode == kGather;
  constexpr int C = D / 32;       // 32-dimension chunks
  constexpr int kSteps = D / 16;  // k-steps of S^T, m-tiles of O^T
  const int64_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = lane / 4, t = lane % 4;
  const int64_t hq = a.n_q_heads, hkv = a.n_kv_heads, group = hq / hkv;
  const int64_t span = kGathered ? a.selected : a.capacity;  // tokens the splits divide
  const int64_t start = split * a.chunk;
  const int64_t chunk_end = start + a.chunk < span ? start + a.chunk : span;
  T* const keys = static_cast<T*>(a.k) + (b * hkv + h) * a.capacity * D;
  T* const values = static_cast<T*>(a.v) + (b * hkv + h) * a.capacity * D;
  // Gather: the chunk's page numbers in shared memory, as attention_split_kernel stages them.
  extern __shared__ int32_t chunk_pages[];
  const int64_t first_page = kGathered ? start / a.page_size : 0;
  if constexpr (kGathered) {
    const int64_t count = (chunk_end - 1) / a.page_size - first_page + 1;
    const int32_t* listed = a.pages + (b * hkv + h) * (a.selected / a.page_size);
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) chunk_pages[i] = listed[first_page + i];
    __syncthreads();
  }
  const int64_t* slot_pos_row = a.slot_positions + (b * hkv + h) * a.capacity;
  // A tile's tokens r and r + 8 (rows past the chunk load its last row, ignored). Gather: listed token j's
  // slot; a slot past the capacity loads the last one and is marked out (listed[half] = false), and the slot's
  // position comes with the keys (< 0: empty), both checked when the tile is scored.
  auto load_tile = [&](int64_t at, uint4 (&k)[2][C], uint4 (&v)[2][C], bool (&listed)[2], int64_t (&held)[2]) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      int64_t j = at + r + 8 * half < chunk_end ? at + r + 8 * half : chunk_end - 1;
      if constexpr (kGathered) {
        const int64_t pg = j / a.page_size;
        j = static_cast<int64_t>(chunk_pages[pg - first_page]) * a.page_size + (j - pg * a.page_size);
        listed[half] = j < a.capacity;
        if (j >= a.capacity) j = a.capacity - 1;
        held[half] = slot_pos_row[j];
      }
      load_chunks<T, D>(keys + j * D, t, k[half]);
      load_chunks<T, D>(values + j * D, t, v[half]);
    }
  };
  constexpr int64_t kStride = kAttnWarps * kTile;
  int64_t base = start + warp * kTile;
  uint4 k_ring[2][2][C], v_ring[2][2][C];  // the tile being scored and the next one, in flight
  bool listed_ring[2][2];
  int64_t held_ring[2][2];
  // Speculative: before the position is read.
  load_tile(base, k_ring[0], v_ring[0], listed_ring[0], held_ring[0]);

  // The token: query head r of the group (head 0 past the group, zeroed below), its key and value, the RoPE
  // tables at its position.
  const T* tok = static_cast<const T*>(a.qkv) + b * (hq + 2 * hkv) * D;
  uint4 q_raw[C], k_raw[C], v_raw[C], cs_raw[C], sn_raw[C];
  load_chunks<T, D>(tok + (h * group + (r < group ? r : 0)) * D, t, q_raw);
  load_chunks<T, D>(tok + (hq + h) * D, t, k_raw);
  load_chunks<T, D>(tok + (hq + hkv + h) * D, t, v_raw);
  const int64_t pos = a.positions[b];
  load_chunks<T, D>(static_cast<const T*>(a.cos) + pos * D, t, cs_raw);
  load_chunks<T, D>(static_cast<const T*>(a.sin) + pos * D, t, sn_raw);
  float qf[C][8], kf[C][8], cs[C][8], sn[C][8];
#pragma unroll
  for (int c = 0; c < C; ++c) {
    unpack(q_raw[c], qf[c], static_cast<T*>(nullptr));
    unpack(k_raw[c], kf[c], static_cast<T*>(nullptr));
    unpack(cs_raw[c], cs[c], static_cast<T*>(nullptr));
    unpack(sn_raw[c], sn[c], static_cast<T*>(nullptr));
  }
  rope_chunks<T, D>(qf, cs, sn);
  rope_chunks<T, D>(kf, cs, sn);
  // Q^T's fragments (the B operand; exact: the RoPE'd values are T's): k-step 2c + s, elements 4s .. 4s + 3.
  uint32_t qb[kSteps][2];
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      qb[2 * c + s][0] = r < group ? pack2<T>(qf[c][4 * s], qf[c][4 * s + 1]) : 0u;
      qb[2 * c + s][1] = r < group ? pack2<T>(qf[c][4 * s + 2], qf[c][4 * s + 3]) : 0u;
    }
  }
  // The slot the token goes to (slot i holds position i) and the end of the slots this block attends. Gather:
  // every listed token of the chunk (validity per token); the token is not written (the page or block choice
  // did it).
  const int64_t len = pos + 1 < a.capacity ? pos + 1 : a.capacity;
  const int64_t slot = kGathered ? -1 : len - 1, end = kGathered || chunk_end < len ? chunk_end : len;
  __shared__ __align__(16) T new_k[D], new_v[D];
  const bool owns_slot = !kGathered && slot >= start && slot < end;  // the same for the whole block
  if (owns_slot) {
    if (warp == 0 && r == 0) {  // lanes 0..3 hold every dimension once
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const uint4 kp = make_uint4(pack2<T>(kf[c][0], kf[c][1]), pack2<T>(kf[c][2], kf[c][3]),
                                    pack2<T>(kf[c][4], kf[c][5]), pack2<T>(kf[c][6], kf[c][7]));
        *reinterpret_cast<uint4*>(keys + slot * D + c * 32 + t * 8) = kp;
        *reinterpret_cast<uint4*>(values + slot * D + c * 32 + t * 8) = v_raw[c];
        *reinterpret_cast<uint4*>(new_k + c * 32 + t * 8) = kp;
        *reinterpret_cast<uint4*>(new_v + c * 32 + t * 8) = v_raw[c];
      }
      if (t == 0 && a.slot_positions != nullptr) a.slot_positions[(b * hkv + h) * a.capacity + slot] = pos;
    }
    __syncthreads();  // the cache writes and new_k/new_v are visible to the block from here on
  }
  constexpr float kLog2e = 1.4426950408889634f;
  const float q_scale = a.softmax_scale * kLog2e;  // scores in base 2
  // Heads 2t and 2t + 1: running maximum (the same in the lanes of a head) and this lane's share of the
  // denominator. acc[i]: m-tile i of O^T, c0 c1 = dimension row r, heads 2t, 2t + 1; c2 c3 = row r + 8.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  float acc[kSteps][4];
#pragma unroll
  for (int i = 0; i < kSteps; ++i) {
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[i][e] = 0.f;
  }
  for (; base < end; base += 2 * kStride) {
    unrolled_while(std::make_integer_sequence<int, 2>(), [&](auto ring_tag) -> bool {
      constexpr int cur = decltype(ring_tag)::value;
      const int64_t at = base + cur * kStride;
      if (at >= end) return false;
      if (at + kStride < end) {
        load_tile(at + kStride, k_ring[1 - cur], v_ring[1 - cur], listed_ring[1 - cur], held_ring[1 - cur]);
      }
      uint4(&kt)[2][C] = k_ring[cur];
      uint4(&vt)[2][C] = v_ring[cur];
      bool attended[2];  // tokens r and r + 8 of the tile
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t j = at + r + 8 * half;
        if (owns_slot && j == slot) {  // maybe loaded before the append: take the new token's
#pragma unroll
          for (int c = 0; c < C; ++c) {
            kt[half][c] = *reinterpret_cast<const uint4*>(new_k + c * 32 + t * 8);
            vt[half][c] = *reinterpret_cast<const uint4*>(new_v + c * 32 + t * 8);
          }
        }
        attended[half] = j < end && (!kGathered || (listed_ring[cur][half] && held_ring[cur][half] >= 0));
        if (!attended[half]) {  // past the sequence or empty: zeros, not what the slot holds (0 x NaN is NaN)
#pragma unroll
          for (int c = 0; c < C; ++c) vt[half][c] = make_uint4(0u, 0u, 0u, 0u);
        }
      }
      float s[4] = {0.f, 0.f, 0.f, 0.f};  // s0 s1: token at + r, heads 2t, 2t + 1; s2 s3: token at + r + 8
#pragma unroll
      for (int c = 0; c < C; ++c) {
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          mma16816<T>(s, word(kt[0][c], 2 * k), word(kt[1][c], 2 * k), word(kt[0][c], 2 * k + 1),
                      word(kt[1][c], 2 * k + 1), qb[2 * c + k][0], qb[2 * c + k][1]);
        }
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) s[e] = attended[e / 2] ? s[e] * q_scale : -INFINITY;
      float rescale[2], p[4];
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float tile_max = fmaxf(s[e], s[e + 2]);
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 4));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 8));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 16));
        const float m_new = fmaxf(m[e], tile_max);
        // `full` always attends token `at`, so its tile maximum is finite; a gathered tile can be all empty
        // slots: keep the -inf maximum from making 0 * inf.
        const float m_ref = kGathered && m_new == -INFINITY ? 0.f : m_new;
        rescale[e] = exp2f(m[e] - m_ref);  // 0 on the first tile (m = -inf)
        p[e] = exp2f(s[e] - m_ref);
        p[e + 2] = exp2f(s[e + 2] - m_ref);
        l[e] = l[e] * rescale[e] + p[e] + p[e + 2];
        m[e] = m_new;
      }
      // P^T's fragments: the 8x8 blocks (tokens 0-7 | 8-15) x heads, transposed.
      const uint32_t pb0 = transpose8x8(pack2<T>(p[0], p[1])), pb1 = transpose8x8(pack2<T>(p[2], p[3]));
#pragma unroll
      for (int i = 0; i < kSteps; ++i) {
        acc[i][0] *= rescale[0];
        acc[i][1] *= rescale[1];
        acc[i][2] *= rescale[0];
        acc[i][3] *= rescale[1];
      }
      // m-tile 2c + u of O^T: rows 0-7 are the dimensions of word 2u of the lanes' chunk c (row x: dimension
      // 32 c + 8 (x / 2) + 4u + x % 2), rows 8-15 those of word 2u + 1; V^T's fragments are those words of the
      // tile's two halves, transposed.
#pragma unroll
      for (int c = 0; c < C; ++c) {
#pragma unroll
        for (int u = 0; u < 2; ++u) {
          mma16816<T>(acc[2 * c + u], transpose8x8(word(vt[0][c], 2 * u)), transpose8x8(word(vt[0][c], 2 * u + 1)),
                      transpose8x8(word(vt[1][c], 2 * u)), transpose8x8(word(vt[1][c], 2 * u + 1)), pb0, pb1);
        }
      }
      return true;
    });
  }
  // Combine the warps of the block: a head's denominator is the sum of its 8 lanes' shares.
#pragma unroll
  for (int e = 0; e < 2; ++e) {
    l[e] += __shfl_xor_sync(0xffffffffu, l[e], 4);
    l[e] += __shfl_xor_sync(0xffffffffu, l[e], 8);
    l[e] += __shfl_xor_sync(0xffffffffu, l[e], 16);
  }
  __shared__ float sm_m[kAttnWarps][kMmaHeads], sm_l[kAttnWarps][kMmaHeads];
  __shared__ float sm_acc[kAttnWarps][kMmaHeads][D];
  if (r == 0) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      sm_m[warp][2 * t + e] = m[e];
      sm_l[warp][2 * t + e] = l[e];
    }
  }
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int u = 0; u < 2; ++u) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int dim = 32 * c + 8 * (r / 2) + 2 * (2 * u + e / 2) + r % 2;
        sm_acc[warp][2 * t + e % 2][dim] = acc[2 * c + u][e];
      }
    }
  }
  __syncthreads();
  write_block_partial<D, kMmaHeads>(a, b, h, split, sm_m, sm_l, sm_acc);
}

// ---------------------------------------------------------------------------------------------------------
// Quest's page choice (QuestArgs). quest_bounds_kernel: one block of kAttnWarps warps per (page split, KV head,
// sequence); each warp scores whole pages, lane l holding dimensions [l P, l P + P) of every query head (RoPE'd
// as the split attention does) and of the page's min/max. The warp that scores the token's own page first
// writes the token (key RoPE'd) into the cache and folds it into the page's min/max: that page's bound is
// +inf whatever its min/max hold, so no other warp depends on the order.
constexpr int kQuestPages = 4;
template <typename T, int D, int kMaxGroup>
__global__ void __launch_bounds__(kAttnWarps * 32) quest_bounds_kernel(QuestArgs a) {
  pdl_wait();
  pdl_trigger();
  constexpr int kPerLane = D / 32;
  const DecodeAttentionArgs& t = a.token;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = b * t.n_kv_heads + h;
  float q[kMaxGroup][kPerLane], kx[kPerLane], vx[kPerLane], cs[kPerLane], sn[kPerLane];
  const int64_t pos = load_roped_token<T, D, kMaxGroup>(t, b, h, lane, q, kx, vx, cs, sn);
  auto rope = [&](float (&x)[kPerLane]) { rope_lane<T>(x, cs, sn, lane); };
  const int64_t current = pos / a.page_size;
  T* lo_row = static_cast<T*>(a.page_min) + row * a.n_pages * D;
  T* hi_row = static_cast<T*>(a.page_max) + row * a.n_pages * D;
  // Each warp takes kQuestPages consecutive pages per iteration, their loads all in flight together, and the
  // next iteration's pages in flight (raw, converted when used) while it scores these. Only this warp reads or
  // writes its pages, the token's own included.
  using Raw = Pack<T, kPerLane>;
  auto load_pages = [&](int64_t first, Raw (&lo)[kQuestPages], Raw (&hi)[kQuestPages]) {
#pragma unroll
    for (int i = 0; i < kQuestPages; ++i) {
      const int64_t page = first + i < a.n_pages ? first + i : a.n_pages - 1;
      lo[i] = *reinterpret_cast<const Raw*>(lo_row + page * D + lane * kPerLane);
      hi[i] = *reinterpret_cast<const Raw*>(hi_row + page * D + lane * kPerLane);
    }
  };
  const int64_t step = static_cast<int64_t>(gridDim.x) * kAttnWarps * kQuestPages;
  int64_t first = (static_cast<int64_t>(blockIdx.x) * kAttnWarps + warp) * kQuestPages;
  Raw lo_raw[kQuestPages], hi_raw[kQuestPages];
  if (first < a.n_pages) load_pages(first, lo_raw, hi_raw);
  for (; first < a.n_pages; first += step) {
    float lo[kQuestPages][kPerLane], hi[kQuestPages][kPerLane];
#pragma unroll
    for (int i = 0; i < kQuestPages; ++i) {
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        lo[i][e] = to_float(lo_raw[i].e[e]);
        hi[i][e] = to_float(hi_raw[i].e[e]);
      }
    }
    if (first + step < a.n_pages) load_pages(first + step, lo_raw, hi_raw);
#pragma unroll
    for (int i = 0; i < kQuestPages; ++i) {
      const int64_t page = first + i;
      if (page >= a.n_pages) break;
      if (page == current) {  // the whole warp: write the token, fold it into the page
        rope(kx);
        const Pack<T, kPerLane> kp =
            store_token<T, kPerLane>(t.k, t.v, (row * t.capacity + pos) * D + lane * kPerLane, kx, vx);
        Pack<T, kPerLane> lp, hp;
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) {
          lp.e[e] = from_float<T>(fminf(lo[i][e], to_float(kp.e[e])));
          hp.e[e] = from_float<T>(fmaxf(hi[i][e], to_float(kp.e[e])));
        }
        *reinterpret_cast<Pack<T, kPerLane>*>(lo_row + page * D + lane * kPerLane) = lp;
        *reinterpret_cast<Pack<T, kPerLane>*>(hi_row + page * D + lane * kPerLane) = hp;
        if (lane == 0) {
          t.slot_positions[row * t.capacity + pos] = pos;
          a.bounds[row * a.n_pages + page] = INFINITY;
        }
        continue;
      }
      float bound = 0.f;
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) {
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) bound += fmaxf(q[g][e] * lo[i][e], q[g][e] * hi[i][e]);
      }
      // Padding heads hold q = 0: their terms are 0 (max(0 * lo, 0 * hi)) on a non-empty page.
      bound = warp_sum(bound);
      const bool empty = __shfl_sync(0xffffffffu, hi[i][0], 0) == -INFINITY;  // a write makes the max finite
      if (lane == 0) a.bounds[row * a.n_pages + page] = empty ? -INFINITY : bound;
    }
  }
}

// Exclusive prefix sum over a block of kThreads threads (kThreads / 32 <= 32 warps); also returns the total.
template <int kThreads>
__device__ int block_exclusive_scan(int v, int* total) {
  __shared__ int warp_sums[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int x = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, offset);
    if (lane >= offset) x += y;
  }
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  int before = 0, all = 0;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) {
    before += w < warp ? warp_sums[w] : 0;
    all += warp_sums[w];
  }
  *total = all;
  return before + x - v;
}

// The top k of n float values (one row of bounds or relevances) by one block of kTopkThreads threads: radix
// select of the k-th largest (float bits mapped to ordered integers, 8 bits per pass, histograms in shared
// memory; done early once its bin holds it alone), then the indices above it and the earliest of those equal to
// it, written to out[0, k) in increasing order (block scans: no atomics decide the order, so every run lists the
// same indices in the same order).
// `keys` is shared memory of n entries. The list is visible to the whole block on return.
constexpr int kTopkThreads = 256;
__device__ __forceinline__ void top_k_in_order(const float* values, int n, int k, uint32_t* keys, int32_t* out) {
  __shared__ int hist[256];
  __shared__ uint32_t s_prefix, s_found;
  __shared__ int s_remaining, s_in_bin;
  for (int i = threadIdx.x; i < n; i += kTopkThreads) {
    const uint32_t bits = __float_as_uint(values[i]);
    keys[i] = bits & 0x80000000u ? ~bits : bits | 0x80000000u;  // larger float, larger key
  }
  if (threadIdx.x == 0) {
    s_prefix = 0;
    s_remaining = k;
    s_in_bin = 0;
  }
  __syncthreads();
  uint32_t mask = 0;
  bool found_early = false;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kTopkThreads) hist[i] = 0;
    __syncthreads();
    const uint32_t prefix = s_prefix;
    // Warp-aggregated: the lanes whose keys fall in one bin add their count once (in the first pass nearly
    // every key shares its top byte, sign and exponent, and 2048 atomics on one shared word run one by one).
    for (int base = threadIdx.x - threadIdx.x % 32; base < n; base += kTopkThreads) {  // the whole warp, in step
      const int i = base + threadIdx.x % 32;
      const bool counted = i < n && (keys[i] & mask) == prefix;
      const unsigned active = __ballot_sync(0xffffffffu, counted);
      if (counted) {
        const uint32_t bin = (keys[i] >> shift) & 255u;
        const unsigned peers = __match_any_sync(active, bin);
        if (threadIdx.x % 32 == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
      }
    }
    __syncthreads();
    if (threadIdx.x < 32) {  // the digit holding the remaining-th largest: lanes take 8 bins each, high first
      const int lane = threadIdx.x;
      int mine = 0;
#pragma unroll
      for (int i = 0; i < 8; ++i) mine += hist[255 - 8 * lane - i];
      int upto = mine;  // inclusive count of bins from 255 down to the end of this lane's
      for (int offset = 1; offset < 32; offset <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, upto, offset);
        if (lane >= offset) upto += y;
      }
      const int remaining = s_remaining;
      const unsigned hit = __ballot_sync(0xffffffffu, upto >= remaining);
      const int first = __ffs(hit) - 1;
      if (lane == first) {
        int before = upto - mine;
        for (int i = 0; i < 8; ++i) {
          const int bin = 255 - 8 * lane - i;
          if (before + hist[bin] >= remaining) {
            s_prefix = prefix | (static_cast<uint32_t>(bin) << shift);
            s_remaining = remaining - before;
            s_in_bin = hist[bin];
            break;
          }
          before += hist[bin];
        }
      }
    }
    mask |= 255u << shift;
    __syncthreads();
    if (shift > 0 && s_in_bin == 1) {  // one key left in the digit's bin: it is the k-th largest, no more passes
      const uint32_t bin_prefix = s_prefix;
      for (int i = threadIdx.x; i < n; i += kTopkThreads) {
        if ((keys[i] & mask) == bin_prefix) s_found = keys[i];  // exactly one thread writes
      }
      __syncthreads();
      found_early = true;
      break;
    }
  }
  const uint32_t threshold = found_early ? s_found : s_prefix;
  const int take_equal = s_remaining;  // how many of the values equal to the threshold are taken
  // Each thread owns a contiguous range of indices, so a scan over threads is a scan in index order.
  const int per = (n + kTopkThreads - 1) / kTopkThreads;
  const int lo = threadIdx.x * per, hi = lo + per < n ? lo + per : n;
  int equal = 0;
  for (int i = lo; i < hi; ++i) equal += keys[i] == threshold;
  int unused;
  int equal_before = block_exclusive_scan<kTopkThreads>(equal, &unused);
  int chosen = 0;
  for (int i = lo; i < hi; ++i) {
    if (keys[i] > threshold) ++chosen;
    else if (keys[i] == threshold && equal_before++ < take_equal) ++chosen;
  }
  int at = block_exclusive_scan<kTopkThreads>(chosen, &unused);
  equal_before = block_exclusive_scan<kTopkThreads>(equal, &unused);
  for (int i = lo; i < hi; ++i) {
    const bool take = keys[i] > threshold || (keys[i] == threshold && equal_before++ < take_equal);
    if (take) out[at++] = i;
  }
  __syncthreads();  // the list is complete (global writes of this block)
}

// The count of a row's attended slots, summed over the block: to attended[row], and into attended_max[b] (the
// maximum over KV heads and layers) when given.
__device__ __forceinline__ void record_attended(int valid, int64_t row, int64_t b, int64_t* attended, int64_t* attended_max) {
  int total;
  block_exclusive_scan<kTopkThreads>(valid, &total);
  if (threadIdx.x == 0) {
    attended[row] = total;
    if (attended_max != nullptr) {
      atomicMax(reinterpret_cast<long long*>(attended_max + b), static_cast<long long>(total));
    }
  }
}

// Quest's top k_pages pages of one (KV head, sequence), then the count of non-empty slots among them.
constexpr int kListUnroll = 4;
__global__ void __launch_bounds__(kTopkThreads) quest_topk_kernel(QuestArgs a) {
  pdl_wait();
  pdl_trigger();
  extern __shared__ uint32_t keys[];  // [n_pages]
  const DecodeAttentionArgs& t = a.token;
  const int64_t b = blockIdx.y, row = b * t.n_kv_heads + blockIdx.x;
  const int k = static_cast<int>(a.k_pages);
  int32_t* pages = a.pages + row * k;
  top_k_in_order(a.bounds + row * a.n_pages, static_cast<int>(a.n_pages), k, keys, pages);
  // The chosen pages' non-empty slots: the page numbers from shared memory (keys is free again), then the slot
  // positions, kListUnroll loads in flight per thread.
  int32_t* chosen = reinterpret_cast<int32_t*>(keys);
  for (int i = threadIdx.x; i < k; i += kTopkThreads) chosen[i] = pages[i];
  __syncthreads();
  const int page_size = static_cast<int>(a.page_size), listed = k * page_size;
  const int64_t* sp = t.slot_positions + row * t.capacity;
  int valid = 0;
  for (int first = threadIdx.x; first < listed; first += kListUnroll * kTopkThreads) {
    int64_t held[kListUnroll];
#pragma unroll
    for (int u = 0; u < kListUnroll; ++u) {
      const int j = first + u * kTopkThreads;
      const int64_t slot = j < listed ? static_cast<int64_t>(chosen[j / page_size]) * page_size + j % page_size : -1;
      held[u] = slot >= 0 && slot < t.capacity ? sp[slot] : -1;
    }
#pragma unroll
    for (int u = 0; u < kListUnroll; ++u) valid += held[u] >= 0;
  }
  record_attended(valid, row, b, a.attended, a.attended_max);
}

// ---------------------------------------------------------------------------------------------------------
// InfLLM's block choice (InfLLMArgs). A memory block's relevance is q_sum . (the sum of its representatives'
// keys), with q_sum the group's query heads summed. Once every token of a block has its final score (its last
// token is more than `local` positions behind the query: no later step adds to it), its representatives and
// their key sum never change, so `block_sums` keeps that sum: the prefill fills it for the prompt's final blocks
// (KVCache::store_prefill), infllm_list_kernel for the block the step's score update finishes, and a step reads
// one float row per final block instead of the block's scores, positions and representative keys. The block at
// the window's edge (candidate, not final) is scored from its scores directly, the same way.
constexpr int kInfBlocks = 4;
constexpr int kInfMaxReps = 4;

// The sum of the representatives' keys of the memory block at slot `start` (lane l: dimensions [l P, l P + P)),
// for a whole warp: the `reps` tokens with the highest scores among the held ones (slot position >= 0) before
// slot `limit`, the lowest slot among equal scores (a redux and a ballot per representative), fewer when fewer are
// held; all their key loads in flight together.
template <typename T, int P>
__device__ __forceinline__ void rep_key_sum(const InfLLMArgs& a, int64_t row, int64_t start, int64_t limit, int lane,
                                            float (&sum)[P]) {
  const DecodeAttentionArgs& t = a.token;
  const int64_t slot = start + lane;
  const bool in = lane < a.block_size && slot < t.capacity && slot < limit;
  const float sc = in ? a.scores[row * t.capacity + slot] : 0.f;
  const int64_t held = in ? t.slot_positions[row * t.capacity + slot] : -1;
  const uint32_t kNone = ordered_key(-INFINITY);
  uint32_t rank = held >= 0 ? ordered_key(sc) : kNone;
  int rep[kInfMaxReps];
#pragma unroll
  for (int r = 0; r < kInfMaxReps; ++r) {
    rep[r] = -1;
    if (r >= a.reps) continue;
    int best_lane = 0;
    if (warp_max_key(rank, &best_lane) == kNone) continue;  // fewer held tokens than representatives
    rep[r] = best_lane;
    if (lane == best_lane) rank = kNone;
  }
  const T* key_row = static_cast<const T*>(t.k) + row * t.capacity * P * 32;
  float key[kInfMaxReps][P];
#pragma unroll
  for (int r = 0; r < kInfMaxReps; ++r) {
    const int64_t s = start + (rep[r] >= 0 ? rep[r] : 0);  // a missing one loads the block's first slot, unused
    load_pack<T, P>(key_row + (s < t.capacity ? s : t.capacity - 1) * P * 32 + lane * P, key[r]);
  }
#pragma unroll
  for (int e = 0; e < P; ++e) {
    sum[e] = 0.f;
#pragma unroll
    for (int r = 0; r < kInfMaxReps; ++r) sum[e] += rep[r] >= 0 ? key[r][e] : 0.f;
  }
}

// infllm_blocks_kernel: one block of kAttnWarps warps per (block split, KV head, sequence), each warp taking
// kInfBlocks memory blocks per iteration, their kept key sums in flight together (lane l: dimensions [l P, l P +
// P)). Split 0's warp 0 writes the token (which no other warp reads: it is in the local window) and the summed
// query.
template <typename T, int D, int kMaxGroup>
__global__ void __launch_bounds__(kAttnWarps * 32) infllm_blocks_kernel(InfLLMArgs a) {
  pdl_wait();
  pdl_trigger();
  constexpr int kPerLane = D / 32;
  const DecodeAttentionArgs& t = a.token;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = b * t.n_kv_heads + h;
  float q[kMaxGroup][kPerLane], kx[kPerLane], vx[kPerLane], cs[kPerLane], sn[kPerLane];
  const int64_t pos = load_roped_token<T, D, kMaxGroup>(t, b, h, lane, q, kx, vx, cs, sn);
  float qs[kPerLane];  // the group's query heads summed (padding heads are 0)
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    qs[e] = 0.f;
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) qs[e] += q[g][e];
  }
  if (blockIdx.x == 0 && warp == 0) {
    rope_lane<T>(kx, cs, sn, lane);
    store_token<T, kPerLane>(t.k, t.v, (row * t.capacity + pos) * D + lane * kPerLane, kx, vx);
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) a.query_sum[row * D + lane * kPerLane + e] = qs[e];
    if (lane == 0) t.slot_positions[row * t.capacity + pos] = pos;
  }
  const int64_t local_start = pos - a.local + 1 > a.n_sink ? pos - a.local + 1 : a.n_sink;
  const int64_t final_end = pos - a.local;  // a block whose slots all lie before this one is final
  const float* sums = a.block_sums + row * a.n_blocks * D;
  const int64_t step = static_cast<int64_t>(gridDim.x) * kAttnWarps * kInfBlocks;
  for (int64_t first = (static_cast<int64_t>(blockIdx.x) * kAttnWarps + warp) * kInfBlocks; first < a.n_blocks;
       first += step) {
    float s[kInfBlocks][kPerLane];
#pragma unroll
    for (int i = 0; i < kInfBlocks; ++i) {
      const int64_t start = a.n_sink + (first + i) * a.block_size;
      if (first + i < a.n_blocks && start + a.block_size <= final_end) {
        load_pack<float, kPerLane>(sums + (first + i) * D + lane * kPerLane, s[i]);
      }
    }
#pragma unroll
    for (int i = 0; i < kInfBlocks; ++i) {
      if (first + i >= a.n_blocks) break;
      const int64_t start = a.n_sink + (first + i) * a.block_size;
      float rel = -INFINITY;
      if (start < local_start) {
        if (start + a.block_size > final_end) rep_key_sum<T, kPerLane>(a, row, start, local_start, lane, s[i]);
        float dot = 0.f;
#pragma unroll
        for (int e = 0; e < kPerLane; ++e) dot += qs[e] * s[i][e];
        rel = warp_sum(dot);
      }
      if (lane == 0) a.relevance[row * a.n_blocks + first + i] = rel;
    }
  }
}

// InfLLM's top k_blocks blocks of one (KV head, sequence), the attended slot list and its count, then the
// representative-score update (one thread per token of the window before the query) and the key sum of the
// block it finishes.
template <typename T, int D>
__global__ void __launch_bounds__(kTopkThreads) infllm_list_kernel(InfLLMArgs a) {
  pdl_wait();
  pdl_trigger();
  extern __shared__ uint32_t keys[];  // [n_blocks]
  const DecodeAttentionArgs& t = a.token;
  const int64_t b = blockIdx.y, row = b * t.n_kv_heads + blockIdx.x;
  const int k = static_cast<int>(a.k_blocks);
  top_k_in_order(a.relevance + row * a.n_blocks, static_cast<int>(a.n_blocks), k, keys, a.blocks + row * k);
  // The chosen blocks from shared memory (keys is free again); every entry's slot position in flight at once
  // (kListUnroll per thread).
  int32_t* blocks = reinterpret_cast<int32_t*>(keys);
  for (int i = threadIdx.x; i < k; i += kTopkThreads) blocks[i] = a.blocks[row * k + i];
  __syncthreads();
  const int64_t pos = t.positions[b];
  const int64_t local_start = pos - a.local + 1 > a.n_sink ? pos - a.local + 1 : a.n_sink;
  const int64_t* sp = t.slot_positions + row * t.capacity;
  int32_t* list = a.slots + row * a.selected;
  const int block_size = static_cast<int>(a.block_size), n_sink = static_cast<int>(a.n_sink);
  const int local = static_cast<int>(a.local), selected = static_cast<int>(a.selected);
  int valid = 0;
  for (int first = threadIdx.x; first < selected; first += kListUnroll * kTopkThreads) {
    int64_t slot[kListUnroll], held[kListUnroll];
#pragma unroll
    for (int u = 0; u < kListUnroll; ++u) {
      const int j = first + u * kTopkThreads;
      bool ok;
      if (j < n_sink) {  // initial tokens
        slot[u] = j;
        ok = j <= pos;
      } else if (j < n_sink + local) {  // the local window
        slot[u] = pos - local + 1 + (j - n_sink);
        ok = slot[u] >= n_sink;
      } else {  // a chosen block's tokens before the window (past `selected`: none)
        const int i = j - n_sink - local;
        slot[u] = j < selected ? n_sink + static_cast<int64_t>(blocks[i / block_size]) * block_size + i % block_size : -1;
        ok = slot[u] < local_start;
      }
      ok = ok && j < selected && slot[u] >= 0 && slot[u] < t.capacity;
      held[u] = ok ? sp[slot[u]] : -1;
    }
#pragma unroll
    for (int u = 0; u < kListUnroll; ++u) {
      const int j = first + u * kTopkThreads;
      if (j >= selected) break;
      const bool ok = held[u] >= 0;
      list[j] = static_cast<int32_t>(ok ? slot[u] : t.capacity);
      valid += ok;
    }
  }
  record_attended(valid, row, b, a.attended, a.attended_max);
  // scores[p'] += query_sum . key[p'] for the tokens the query follows by at most `local`: one thread per token,
  // its slot position and its whole key row (16 bytes a load) in flight together, the summed query in shared
  // memory.
  constexpr int V = 16 / sizeof(T);
  __shared__ float qs[D];
  for (int e = threadIdx.x; e < D; e += kTopkThreads) qs[e] = a.query_sum[row * D + e];
  __syncthreads();
  for (int i = threadIdx.x; i < local; i += kTopkThreads) {
    const int64_t p = pos - local + i;
    if (p < n_sink || p >= t.capacity) continue;
    const int64_t held = sp[p];
    const T* key = static_cast<const T*>(t.k) + (row * t.capacity + p) * D;
    float x[D / V][V];
#pragma unroll
    for (int c = 0; c < D / V; ++c) load_pack<T, V>(key + c * V, x[c]);
    float dot = 0.f;
#pragma unroll
    for (int c = 0; c < D / V; ++c) {
#pragma unroll
      for (int e = 0; e < V; ++e) dot += qs[c * V + e] * x[c][e];
    }
    if (held >= 0) a.scores[row * t.capacity + p] += dot;
  }
  // Position pos - local took its last score update above: when it ends a memory block, that block is final from
  // the next step on, and its representatives' key sum is kept (warp 0, once the whole update is visible).
  __syncthreads();
  const int64_t done = pos - local;
  if (threadIdx.x < 32 && done >= n_sink && (done - n_sink + 1) % block_size == 0 && done < t.capacity) {
    const int64_t blk = (done - n_sink) / block_size;
    float sum[D / 32];
    rep_key_sum<T, D / 32>(a, row, n_sink + blk * block_size, done + 1, threadIdx.x, sum);
    float* out = a.block_sums + (row * a.n_blocks + blk) * D + threadIdx.x * (D / 32);
#pragma unroll
    for (int e = 0; e < D / 32; ++e) out[e] = sum[e];
  }
}

// ---------------------------------------------------------------------------------------------------------
template <typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gate_up, T* __restrict__ out, int64_t rows, int64_t width) {
  pdl_wait();
  pdl_trigger();
  const int64_t total = rows * width;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = idx / width, i = idx % width;
    const float g = to_float(gate_up[r * 2 * width + i]);
    const float u = to_float(gate_up[r * 2 * width + width + i]);
    const float act = round_to<T>(g / (1.f + expf(-g)));
    out[idx] = from_float<T>(act * u);
  }
}

// ---------------------------------------------------------------------------------------------------------
constexpr int kGemvWarps = 8;
constexpr int kGemvRowsPerBlock = 16;
constexpr int kGemvTokens = 8;

template <typename T>
__global__ void __launch_bounds__(kGemvWarps * 32) grouped_gemv_kernel(GroupedGemvArgs a) {
  pdl_wait();
  pdl_trigger();
  constexpr int kVec = 16 / sizeof(T);
  const int64_t e = blockIdx.y;
  const int64_t begin = a.offsets[e], end = a.offsets[e + 1];
  if (begin >= end) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t vectors = a.k / kVec;
  const int64_t row_end = (blockIdx.x + 1) * kGemvRowsPerBlock < a.n ? (blockIdx.x + 1) * kGemvRowsPerBlock : a.n;
  for (int64_t row = blockIdx.x * kGemvRowsPerBlock + warp; row < row_end; row += kGemvWarps) {
    const uint4* w = reinterpret_cast<const uint4*>(static_cast<const T*>(a.w) + (e * a.n + row) * a.k);
    for (int64_t tb = begin; tb < end; tb += kGemvTokens) {
      const int nt = end - tb < kGemvTokens ? static_cast<int>(end - tb) : kGemvTokens;
      const uint4* x[kGemvTokens];
      float acc[kGemvTokens];
#pragma unroll
      for (int t = 0; t < kGemvTokens; ++t) {
        acc[t] = 0.f;
        const int64_t pair = t < nt ? a.order[tb + t] : a.order[tb];
        x[t] = reinterpret_cast<const uint4*>(static_cast<const T*>(a.x) + (pair / a.input_div) * a.k);
      }
#pragma unroll 4
      for (int64_t v = lane; v < vectors; v += 32) {
        float wf[8];
        unpack(__ldg(w + v), wf, static_cast<T*>(nullptr));
#pragma unroll
        for (int t = 0; t < kGemvTokens; ++t) {
          if (t >= nt) break;
          float xf[8];
          unpack(__ldg(x[t] + v), xf, static_cast<T*>(nullptr));
#pragma unroll
          for (int c = 0; c < kVec; ++c) acc[t] += wf[c] * xf[c];
        }
      }
#pragma unroll
      for (int t = 0; t < kGemvTokens; ++t) {
        if (t >= nt) break;
        const float total = warp_sum(acc[t]);
        if (lane == 0) static_cast<T*>(a.out)[a.order[tb + t] * a.n + row] = from_float<T>(total);
      }
    }
  }
}


// Blocks per (KV head, sequence) of a selection kernel whose warps take `per_warp` items per iteration: about
// t.select_blocks in all, no warp without items.
unsigned selection_blocks_per_row(const DecodeAttentionArgs& t, int64_t items, int64_t per_warp) {
  const int64_t rows = t.batch * t.n_kv_heads, per_block = per_warp * kAttnWarps;
  return static_cast<unsigned>(std::max<int64_t>(
      1, std::min<int64_t>(t.select_blocks / std::max<int64_t>(1, rows), (items + per_block - 1) / per_block)));
}

// Calls f(D, G) as integral constants for head_dim D (64 or 128) and the kernels' padded group G (1, 2, 4, 8).
template <typename F>
void by_shape(int64_t head_dim, int64_t group, F&& f) {
  auto with_dim = [&](auto dim_tag) {
    if (group <= 1) f(dim_tag, std::integral_constant<int, 1>());
    else if (group <= 2) f(dim_tag, std::integral_constant<int, 2>());
    else if (group <= 4) f(dim_tag, std::integral_constant<int, 4>());
    else f(dim_tag, std::integral_constant<int, 8>());
  };
  if (head_dim == 64) with_dim(std::integral_constant<int, 64>());
  else with_dim(std::integral_constant<int, 128>());
}

}  // namespace

void rms_norm(int dtype, const void* x, const void* w, void* out, int64_t rows, int64_t hidden, float eps, void* stream) {
  const int threads = hidden >= 4096 ? 1024 : hidden >= 1024 ? 512 : 256;
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_dependent(rms_norm_kernel<T>, dim3(static_cast<unsigned>(rows)), dim3(threads), 0, as_stream(stream),
                     static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(out), hidden, eps);
  });
}

void rope_append(int dtype, const RopeAppendArgs& args, void* stream) {
  const dim3 grid(static_cast<unsigned>(args.batch), static_cast<unsigned>(args.n_q_heads + args.n_kv_heads));
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_dependent(rope_append_kernel<T>, grid, dim3(static_cast<unsigned>(args.head_dim / 2)), 0, as_stream(stream),
                     args);
  });
}

bool decode_attention_supports(int64_t head_dim, int64_t group) {
  return (head_dim == 64 || head_dim == 128) && group >= 1 && group <= kAttnMaxGroup;
}

void decode_attention(int dtype, const DecodeAttentionArgs& args, void* stream) {
  const dim3 grid(static_cast<unsigned>(args.splits), static_cast<unsigned>(args.n_kv_heads),
                  static_cast<unsigned>(args.batch));
  const unsigned combine_blocks = static_cast<unsigned>(args.batch * args.n_q_heads);
  const int64_t group = args.n_q_heads / args.n_kv_heads;
  cudaStream_t s = as_stream(stream);
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto split = [&](auto mode_tag) {
      constexpr int M = decltype(mode_tag)::value;
      const size_t pages_smem = M == kGather ? static_cast<size_t>(args.chunk / args.page_size + 2) * sizeof(int32_t) : 0;
      by_shape(args.head_dim, group, [&](auto d, auto g) {
        constexpr int D = decltype(d)::value;
        constexpr int G = decltype(g)::value;
        const dim3 block(kAttnWarps * 32);
        const size_t combine_smem = 2 * static_cast<size_t>(args.splits) * sizeof(float);
        bool tensor_cores = false;  // bf16 / fp16 `full` or gathered attention when asked for
        if constexpr (M != kEvict && !std::is_same_v<T, float>) {
          tensor_cores = args.tensor_cores;
          if (tensor_cores) launch_dependent(attention_mma_kernel<T, D, M>, grid, block, pages_smem, s, args);
        }
        if (!tensor_cores) launch_dependent(attention_split_kernel<T, D, G, M>, grid, block, pages_smem, s, args);
        launch_dependent(attention_combine_kernel<T, D>, dim3(combine_blocks), dim3(D), combine_smem, s, args);
      });
    };
    if (args.evict) split(std::integral_constant<int, kEvict>());
    else if (args.pages != nullptr) split(std::integral_constant<int, kGather>());
    else split(std::integral_constant<int, kFull>());
  });
  if (args.evict && args.update != 0) {
    const int64_t parts = std::min<int64_t>(64, (args.capacity + kUpdateThreads - 1) / kUpdateThreads);
    launch_dependent(eviction_update_kernel,
                     dim3(static_cast<unsigned>(args.batch * args.n_kv_heads), static_cast<unsigned>(parts)),
                     dim3(kUpdateThreads), 0, s, args);
  }
}

bool quest_select_supports(int64_t n_pages) {
  return n_pages >= 1 && n_pages * static_cast<int64_t>(sizeof(uint32_t)) <= 48 * 1024;
}


void quest_select(int dtype, const QuestArgs& args, void* stream) {
  cudaStream_t s = as_stream(stream);
  const DecodeAttentionArgs& t = args.token;
  const int64_t group = t.n_q_heads / t.n_kv_heads;
  const dim3 grid(selection_blocks_per_row(t, args.n_pages, kQuestPages), static_cast<unsigned>(t.n_kv_heads),
                  static_cast<unsigned>(t.batch));
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    by_shape(t.head_dim, group, [&](auto d, auto g) {
      launch_dependent(quest_bounds_kernel<T, decltype(d)::value, decltype(g)::value>, grid, dim3(kAttnWarps * 32), 0,
                       s, args);
    });
  });
  launch_dependent(quest_topk_kernel, dim3(static_cast<unsigned>(t.n_kv_heads), static_cast<unsigned>(t.batch)),
                   dim3(kTopkThreads), static_cast<size_t>(args.n_pages) * sizeof(uint32_t), s, args);
}

bool infllm_select_supports(int64_t n_blocks, int64_t block_size, int64_t reps) {
  return block_size >= 1 && block_size <= 32 && reps >= 1 && reps <= kInfMaxReps && quest_select_supports(n_blocks);
}

void infllm_select(int dtype, const InfLLMArgs& args, void* stream) {
  cudaStream_t s = as_stream(stream);
  const DecodeAttentionArgs& t = args.token;
  const int64_t group = t.n_q_heads / t.n_kv_heads;
  const dim3 grid(selection_blocks_per_row(t, args.n_blocks, kInfBlocks), static_cast<unsigned>(t.n_kv_heads),
                  static_cast<unsigned>(t.batch));
  const dim3 rows(static_cast<unsigned>(t.n_kv_heads), static_cast<unsigned>(t.batch));
  const size_t keys_smem = static_cast<size_t>(args.n_blocks) * sizeof(uint32_t);
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    by_shape(t.head_dim, group, [&](auto d, auto g) {
      launch_dependent(infllm_blocks_kernel<T, decltype(d)::value, decltype(g)::value>, grid, dim3(kAttnWarps * 32), 0,
                       s, args);
    });
    by_shape(t.head_dim, 1, [&](auto d, auto) {
      launch_dependent(infllm_list_kernel<T, decltype(d)::value>, rows, dim3(kTopkThreads), keys_smem, s, args);
    });
  });
}

void silu_mul(int dtype, const void* gate_up, void* out, int64_t rows, int64_t width, void* stream) {
  const int64_t total = rows * width;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 4096));
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_dependent(silu_mul_kernel<T>, dim3(blocks), dim3(256), 0, as_stream(stream), static_cast<const T*>(gate_up),
                     static_cast<T*>(out),
                                                             rows, width);
  });
}

void grouped_gemv(int dtype, const GroupedGemvArgs& args, void* stream) {
  const dim3 grid(static_cast<unsigned>((args.n + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock),
                  static_cast<unsigned>(args.experts));
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    launch_dependent(grouped_gemv_kernel<T>, grid, dim3(kGemvWarps * 32), 0, as_stream(stream), args);
  });
}

const char* last_launch_error() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? "" : cudaGetErrorString(err);
}

}  // namespace lil::kernels
