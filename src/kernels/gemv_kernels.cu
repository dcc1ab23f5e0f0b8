// Small-batch (decode) linear layers with their neighbours fused in, and the Qwen2-MoE block for a few tokens:
// see decode_kernels.h (GemvArgs, MoeSmallArgs). The plain ATen twins these are tested against live in
// src/runtime/fast_decode.cpp (reference_linear, reference_moe_small).
//
// Layout of the work: two 256-thread blocks per SM; each block stages the few input rows in shared memory as
// float32 (normalised first when an RMSNorm is fused in) and its warps stream whole weight rows with 16-byte
// loads, several per lane in flight, so the step reads each weight byte once and at close to the memory
// bandwidth. A warp's partial sums are reduced with shuffles and one lane per token applies the epilogue.
// Kernels may be launched as programmatic dependents (cuda_common.cuh, LIL_PDL=1): a block that gets onto an
// SM while the previous kernel finishes waits there for its inputs.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include <cooperative_groups.h>

#include "kernels/cuda_common.cuh"
#include "kernels/decode_kernels.h"

namespace lil::kernels {

namespace {

constexpr int kThreads = 256;
// Blocks per SM: the kernels are built for up to four (<= 64 registers); two (16 warps, 8 loads of 16 bytes
// in flight per lane) measured best overall on the H200 (results/gpu/README.md: one block 6.01 ms per 8B
// step, two 5.11, three 5.38, four 5.38; the 1.5B and MoE shapes 1-2% faster with three or four).
// LIL_GEMV_BLOCKS_PER_SM=1..4 overrides it (for measurements).
constexpr int kMaxBlocksPerSm = 4;
constexpr int kDefaultBlocksPerSm = 2;
int blocks_per_sm() {
  static const int n = [] {
    const char* env = std::getenv("LIL_GEMV_BLOCKS_PER_SM");
    const int v = env != nullptr ? std::atoi(env) : kDefaultBlocksPerSm;
    return v >= 1 && v <= kMaxBlocksPerSm ? v : kDefaultBlocksPerSm;
  }();
  return n;
}
// LIL_GEMV_WIDE4=1 or 2 (read once; a measurement knob, off by default): three or four rows take a build of the
// kernel for two blocks per SM (up to 128 registers) with 8 weight vectors per lane in flight instead of 4; 2
// also reads the staged inputs in fma_vec's conflict-free order (XSWAP). The 64-register build halves the loads
// in flight at four rows, and four rows' input reads (two-way bank conflicts) take about as many shared-memory
// cycles as the weights take memory time; the 1.5B shape's step took 1.98x batch 1's at batch 4 (H100: 3.67
// against 1.85 ms; results/gpu/README.md, thirteenth session).
int wide_four_rows() {
  static const int mode = [] {
    const char* env = std::getenv("LIL_GEMV_WIDE4");
    const std::string v = env != nullptr ? env : "";
    return v == "1" ? 1 : v == "2" ? 2 : 0;
  }();
  return mode;
}
constexpr int kWarps = kThreads / 32;
constexpr int kMaxExperts = 256;
constexpr int kMaxTopK = 8;

template <typename T>
__host__ __device__ constexpr int vec_of() {
  return static_cast<int>(16 / sizeof(T));
}

// One 16-byte shared-memory load the compiler cannot merge, reorder against barriers or reason about.
__device__ __forceinline__ float4 load_shared_f4(const float4* p) {
  float4 v;
  asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(static_cast<unsigned>(__cvta_generic_to_shared(p))));
  return v;
}

// acc[t] += w . x[t] over one 16-byte vector of weights (V elements at element offset `off` of each row).
// A warp's lanes read x 32 bytes apart (bf16/f16: two float4 each), so each 8-lane phase of a 16-byte shared load
// hits every bank group twice. With XSWAP, lanes 4-7 of each eight read their second float4 first: the phases
// become conflict-free (half the shared-memory wavefronts), for a select per value; the sums keep their order.
template <typename T, int MAXM, bool XSWAP = false>
__device__ __forceinline__ void fma_vec(const uint4& raw, const float* x, int64_t stride, int m, int64_t off,
                                        float (&acc)[MAXM]) {
  constexpr int V = vec_of<T>();
  float wf[8];
  unpack(raw, wf, static_cast<T*>(nullptr));
#pragma unroll
  for (int t = 0; t < MAXM; ++t) {
    if (t < m) {
      const float4* xv = reinterpret_cast<const float4*>(x + t * stride + off);
      float s = acc[t];
      float4 swapped[2];
      if constexpr (XSWAP && V == 8) {
        // Opaque loads: plain ones let the compiler see through the selects and load in program order again.
        const int first = (threadIdx.x >> 2) & 1;
        const float4 a = load_shared_f4(xv + first), b = load_shared_f4(xv + (first ^ 1));
        swapped[0] = first != 0 ? b : a;
        swapped[1] = first != 0 ? a : b;
      }
#pragma unroll
      for (int q = 0; q < V / 4; ++q) {
        const float4 f = XSWAP && V == 8 ? swapped[q] : xv[q];
        s = fmaf(wf[4 * q], f.x, s);
        s = fmaf(wf[4 * q + 1], f.y, s);
        s = fmaf(wf[4 * q + 2], f.z, s);
        s = fmaf(wf[4 * q + 3], f.w, s);
      }
      acc[t] = s;
    }
  }
}

// Loads the U vectors of each of R weight rows that lane-strided chunk `v` covers (zeros past the end) into
// raw[r * U + u] (one flat array, so kernels that switch between R = 1 and 2 rows keep one register buffer).
template <typename T, int R, int U>
__device__ __forceinline__ void load_chunk(const T* const (&w)[R], int64_t v, int64_t vecs, uint4 (&raw)[R * U]) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t idx = v + u * 32;
      raw[r * U + u] = idx < vecs ? __ldcs(reinterpret_cast<const uint4*>(w[r]) + idx) : make_uint4(0, 0, 0, 0);
    }
  }
}

// Each lane's partial dot products of R weight rows (length k) with x[r] (MAXM rows of `stride` floats each,
// shared memory). U vectors per row and lane are loaded before any is used, so R * U loads are in flight.
// With `preloaded`, raw already holds the first chunk (load_chunk at v = lane), issued earlier (before the
// inputs were staged, or before the previous row's reduction) so that its memory latency overlaps that work.
template <typename T, int R, int MAXM, int U, bool XSWAP = false>
__device__ __forceinline__ void rows_dot(const T* const (&w)[R], const float* const (&x)[R], int64_t stride, int m,
                                         int64_t k, int lane, float (&acc)[R][MAXM], uint4 (&raw)[R * U],
                                         bool preloaded) {
  constexpr int V = vec_of<T>();
  const int64_t vecs = k / V;
  for (int64_t v = lane; v < vecs; v += U * 32) {
    if (!(preloaded && v == lane)) load_chunk<T, R, U>(w, v, vecs, raw);
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t idx = v + u * 32;
        if (idx < vecs) fma_vec<T, MAXM, XSWAP>(raw[r * U + u], x[r], stride, m, idx * V, acc[r]);
      }
    }
  }
}

// Copies `count` elements of T (a multiple of the vector width) to shared memory as float32, four 16-byte
// loads per thread in flight. Activations are read through L2 (__ldcg), not the read-only cache: in a chain
// (gemv_chain_kernel) they were written earlier in the same kernel, by other blocks.
template <typename T>
__device__ __forceinline__ void stage_flat(const T* src, float* dst, int64_t count) {
  constexpr int V = vec_of<T>();
  const int64_t vecs = count / V;
  const uint4* s = reinterpret_cast<const uint4*>(src);
  for (int64_t v0 = threadIdx.x; v0 < vecs; v0 += 4 * static_cast<int64_t>(blockDim.x)) {
    uint4 raw[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int64_t v = v0 + u * static_cast<int64_t>(blockDim.x);
      raw[u] = v < vecs ? __ldcg(s + v) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int64_t v = v0 + u * static_cast<int64_t>(blockDim.x);
      if (v >= vecs) continue;
      float f[8];
      unpack(raw[u], f, static_cast<T*>(nullptr));
#pragma unroll
      for (int c = 0; c < V; ++c) dst[v * V + c] = f[c];
    }
  }
}

// Stages x [m, k] into xs (float32). With norm_w, each row becomes Hugging Face's RMSNorm of it times norm_w
// (w * T(x * rsqrt(mean(x^2) + eps)), rounded to T), which block 0 also writes to norm_out when given; the
// norm weights are staged next to the rows (xs + m * k, k floats) in the same pass as x, so the prologue
// waits for one memory round trip, and the sums of squares are taken on the way.
template <typename T, int MAXM = kGemvMaxRows>
__device__ void stage_rows(const T* x, const T* norm_w, float eps, T* norm_out, float* xs, int m, int64_t k) {
  if (norm_w == nullptr) {
    stage_flat<T>(x, xs, m * k);
    __syncthreads();
    return;
  }
  constexpr int V = vec_of<T>();
  constexpr int kUnroll = MAXM == 1 ? 2 : 1;  // loads in flight without spilling the preloaded weights
  const int64_t kv = k / V;  // 16-byte vectors per row
  float* ws = xs + m * k;
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  const uint4* wv = reinterpret_cast<const uint4*>(norm_w);
  float ss[MAXM];
#pragma unroll
  for (int t = 0; t < MAXM; ++t) ss[t] = 0.f;
  const int64_t step = blockDim.x;
  for (int64_t v0 = threadIdx.x; v0 < kv; v0 += kUnroll * step) {
    uint4 wraw[kUnroll], xraw[kUnroll][MAXM];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + u * step;
      if (v >= kv) continue;
      wraw[u] = __ldg(wv + v);
#pragma unroll
      for (int t = 0; t < MAXM; ++t) {
        if (t < m) xraw[u][t] = __ldcg(xv + t * kv + v);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t v = v0 + u * step;
      if (v >= kv) continue;
      float f[8];
      unpack(wraw[u], f, static_cast<T*>(nullptr));
#pragma unroll
      for (int c = 0; c < V; ++c) ws[v * V + c] = f[c];
#pragma unroll
      for (int t = 0; t < MAXM; ++t) {
        if (t >= m) continue;
        unpack(xraw[u][t], f, static_cast<T*>(nullptr));
#pragma unroll
        for (int c = 0; c < V; ++c) {
          xs[t * k + v * V + c] = f[c];
          ss[t] = fmaf(f[c], f[c], ss[t]);
        }
      }
    }
  }
  __shared__ float red[MAXM][kWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < MAXM; ++t) {
    const float s = warp_sum(ss[t]);
    if (lane == 0) red[t][warp] = s;
  }
  __syncthreads();
  float inv[MAXM];
#pragma unroll
  for (int t = 0; t < MAXM; ++t) {
    float total = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) total += red[t][w];
    inv[t] = rsqrtf(total / static_cast<float>(k) + eps);
  }
  // Each thread normalises the vectors it staged (same mapping), so no barrier is needed before this.
  for (int64_t v = threadIdx.x; v < kv; v += step) {
#pragma unroll
    for (int c = 0; c < V; ++c) {
      const int64_t i = v * V + c;
      const float w = ws[i];
#pragma unroll
      for (int t = 0; t < MAXM; ++t) {
        if (t >= m) continue;
        const float val = round_to<T>(w * round_to<T>(xs[t * k + i] * inv[t]));
        xs[t * k + i] = val;
        if (norm_out != nullptr && blockIdx.x == 0) norm_out[t * k + i] = from_float<T>(val);
      }
    }
  }
  __syncthreads();
}

// stage_rows for layer `a`: its m input rows (normalised when a norm is fused in) into xs.
template <typename T, int MAXM>
__device__ __forceinline__ void stage_layer(const GemvArgs& a, float* xs) {
  stage_rows<T, MAXM>(static_cast<const T*>(a.x), static_cast<const T*>(a.norm_weight), a.eps,
                      static_cast<T*>(a.norm_out), xs, static_cast<int>(a.m), a.k);
}

// The weight rows of output row `row`: the row, and with SwiGLU its up row n rows further.
template <typename T, int R>
__device__ __forceinline__ void weight_rows(const GemvArgs& a, int64_t row, const T* (&rows)[R]) {
  const T* W = static_cast<const T*>(a.w);
  rows[0] = W + row * a.k;
  if constexpr (R == 2) rows[1] = W + (row + a.n) * a.k;
}

// Register vectors one warp keeps in flight for m rows (SwiGLU layers: two weight rows of half as many each).
template <int MAXM>
__host__ __device__ constexpr int raw_vectors() {
  return MAXM <= 2 ? 8 : 4;
}

// Issues the first chunk of this warp's first row of layer `a` into raw (weights do not depend on earlier
// kernels or layers, so this goes out before the inputs are there).
template <typename T, int P>
__device__ __forceinline__ void preload_first(const GemvArgs& a, uint4 (&raw)[P]) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (first >= a.n) return;
  const int lane = threadIdx.x % 32;
  if (a.swiglu) {
    const T* rows[2];
    weight_rows<T, 2>(a, first, rows);
    load_chunk<T, 2, P / 2>(rows, lane, a.k / vec_of<T>(), raw);
  } else {
    const T* rows[1];
    weight_rows<T, 1>(a, first, rows);
    load_chunk<T, 1, P>(rows, lane, a.k / vec_of<T>(), raw);
  }
}

// The rows of layer `a` this warp owns (every gridDim.x * kWarps-th, from its own index), with the inputs
// staged in xs and raw holding the first chunk of its first row (preload_first). When `next` is given, the
// first chunk of the warp's first row of that layer goes out in place of the (absent) next row's, before the
// last row's reduction, so a chain's next layer starts with its weights in flight.
template <typename T, int MAXM, bool SWIGLU, int P, bool XSWAP = false>
__device__ __forceinline__ void gemv_rows(const GemvArgs& a, const float* xs, uint4 (&raw)[P],
                                          const GemvArgs* next) {
  constexpr int R = SWIGLU ? 2 : 1;
  constexpr int U = P / R;
  const int m = static_cast<int>(a.m);
  const int lane = threadIdx.x % 32;
  const T* bias = static_cast<const T*>(a.bias);
  const T* res = static_cast<const T*>(a.residual);
  const int64_t total_warps = static_cast<int64_t>(gridDim.x) * kWarps;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (first >= a.n && next != nullptr) preload_first<T, P>(*next, raw);
  for (int64_t row = first; row < a.n; row += total_warps) {
    const T* rows[R];
    const float* xr[R];
    weight_rows<T, R>(a, row, rows);
    xr[0] = xs;
    if constexpr (SWIGLU) xr[R - 1] = xs;
    float acc[R][MAXM];
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int t = 0; t < MAXM; ++t) acc[r][t] = 0.f;
    }
    // Lane t's epilogue operands (bias, residual of token t) are loaded now, in flight during the dot products.
    float bias_v = 0.f, res_v = 0.f;
    if (!SWIGLU && lane < m) {
      if (bias != nullptr) bias_v = to_float(bias[row]);
      if (res != nullptr) res_v = to_float(res[lane * a.n + row]);
    }
    rows_dot<T, R, MAXM, U, XSWAP>(rows, xr, a.k, m, a.k, lane, acc, raw, true);
    if (row + total_warps < a.n) {  // the next row's first chunk goes out before this row's reduction
      const T* following[R];
      weight_rows<T, R>(a, row + total_warps, following);
      load_chunk<T, R, U>(following, lane, a.k / vec_of<T>(), raw);
    } else if (next != nullptr) {
      preload_first<T, P>(*next, raw);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int t = 0; t < MAXM; ++t) acc[r][t] = warp_sum(acc[r][t]);
    }
#pragma unroll
    for (int t = 0; t < MAXM; ++t) {
      if (t >= m || lane != t) continue;
      float y;
      if constexpr (SWIGLU) {
        const float g = round_to<T>(acc[0][t]), u = round_to<T>(acc[R - 1][t]);
        y = round_to<T>(g / (1.f + expf(-g))) * u;
      } else {
        y = acc[0][t];
        if (bias != nullptr) y += bias_v;
        if (res != nullptr) y = res_v + round_to<T>(y);
      }
      const int64_t idx = t * a.n + row;
      if (a.out_float) static_cast<float*>(a.out)[idx] = round_to<T>(y);
      else static_cast<T*>(a.out)[idx] = from_float<T>(y);
    }
  }
}

// This warp's share of a.prefetch (the ranges end to end, cut into one 16-byte-aligned slice per warp of the
// grid), asked of L2 by the lanes that meet a range in it: issued when the warp has no rows left, so the
// prefetches fill the memory pipe while the other warps finish and the next kernel starts.
__device__ __forceinline__ void prefetch_share(const GemvArgs& a) {
  int64_t total = 0;
#pragma unroll
  for (int i = 0; i < kMaxPrefetchRanges; ++i) total += a.prefetch[i].bytes;
  if (total == 0) return;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
  const int64_t warp = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  const int64_t slice = ((total + warps - 1) / warps + 15) / 16 * 16;
  const int64_t lo = warp * slice, hi = lo + slice < total ? lo + slice : total;
  const int lane = threadIdx.x % 32;
  int64_t start = 0;
#pragma unroll
  for (int i = 0; i < kMaxPrefetchRanges; ++i) {
    const int64_t end = start + a.prefetch[i].bytes;
    const int64_t from = lo > start ? lo : start, to = hi < end ? hi : end;
    if (lane == i && from < to) {
      prefetch_l2(static_cast<const char*>(a.prefetch[i].p) + (from - start), static_cast<uint32_t>(to - from));
    }
    start = end;
  }
}

// P: 16-byte weight vectors each lane keeps in flight (P / 2 per row with SwiGLU); MIN_BLOCKS: the blocks per
// SM the build must allow (its register budget); XSWAP: fma_vec's conflict-free order of the input reads.
template <typename T, int MAXM, bool SWIGLU, int P, int MIN_BLOCKS = kMaxBlocksPerSm, bool XSWAP = false>
__global__ void __launch_bounds__(kThreads, MIN_BLOCKS) gemv_kernel(GemvArgs a) {
  extern __shared__ float4 smem_vec[];
  float* xs = reinterpret_cast<float*>(smem_vec);
  uint4 raw[P];
  preload_first<T, P>(a, raw);
  pdl_wait();
  stage_layer<T, MAXM>(a, xs);
  pdl_trigger();  // only now: one kernel ahead at most
  gemv_rows<T, MAXM, SWIGLU, P, XSWAP>(a, xs, raw, nullptr);
  prefetch_share(a);
}

// ---- chains of linear layers in one kernel ----

// Layers run one after another, a grid barrier between them: each block stages the layer's inputs (written
// by the layer before, in other blocks) and its warps take the same rows gemv_kernel's would, with the next
// layer's first weights already in flight across the barrier. Built for the default two blocks per SM (up to
// 128 registers: both epilogue kinds and the next layer's preload live in one kernel without spilling).
template <typename T, int MAXM>
__global__ void __launch_bounds__(kThreads, kDefaultBlocksPerSm) gemv_chain_kernel(const __grid_constant__ GemvChainArgs c) {
  extern __shared__ float4 smem_vec[];
  float* xs = reinterpret_cast<float*>(smem_vec);
  constexpr int P = raw_vectors<MAXM>();
  uint4 raw[P];
  preload_first<T, P>(c.link[0], raw);
  pdl_wait();
  for (int i = 0; i < c.links; ++i) {
    const GemvArgs& a = c.link[i];
    stage_layer<T, MAXM>(a, xs);
    if (i == 0) pdl_trigger();
    const GemvArgs* next = i + 1 < c.links ? &c.link[i + 1] : nullptr;
    if (a.swiglu) gemv_rows<T, MAXM, true, P>(a, xs, raw, next);
    else gemv_rows<T, MAXM, false, P>(a, xs, raw, next);
    if (next != nullptr) cooperative_groups::this_grid().sync();  // a cooperative launch: all blocks resident
  }
}

// ---- Qwen2-MoE for a few tokens ----

// Softmax over the router logits of token t, top-k, optional renormalisation, weights rounded to T; the
// selection sorted by expert id. One warp; lane 0 writes.
template <typename T>
__device__ void route_token(const MoeSmallArgs& a, int t, int32_t* sel_e, float* sel_w, bool write_global) {
  const int lane = threadIdx.x % 32;
  const int64_t E = a.experts;
  const T* logits = static_cast<const T*>(a.logits) + t * (E + 1);
  constexpr int kPer = kMaxExperts / 32;
  float p[kPer];
  float big = -INFINITY;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t e = lane + 32 * i;
    p[i] = e < E ? to_float(logits[e]) : -INFINITY;
    big = fmaxf(big, p[i]);
  }
  for (int offset = 16; offset > 0; offset >>= 1) big = fmaxf(big, __shfl_xor_sync(0xffffffffu, big, offset));
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    p[i] = p[i] == -INFINITY ? 0.f : expf(p[i] - big);
    sum += p[i];
  }
  sum = warp_sum(sum);
  int32_t ids[kMaxTopK];
  float ws[kMaxTopK];
  float picked = 0.f;
  for (int j = 0; j < a.top_k; ++j) {
    // arg max of the remaining probabilities (lowest expert id on ties), then remove it.
    float best = -1.f;
    int best_e = 1 << 30;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int e = lane + 32 * i;
      const float v = e < E ? p[i] / sum : -1.f;
      if (v > best || (v == best && e < best_e)) {
        best = v;
        best_e = e;
      }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, offset);
      const int oe = __shfl_xor_sync(0xffffffffu, best_e, offset);
      if (ov > best || (ov == best && oe < best_e)) {
        best = ov;
        best_e = oe;
      }
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      if (lane + 32 * i == best_e) p[i] = -2.f * sum;  // below every probability from now on
    }
    ids[j] = best_e;
    ws[j] = best;
    picked += best;
  }
  if (lane != 0) return;
  for (int j = 0; j < a.top_k; ++j) ws[j] = round_to<T>(a.norm_topk_prob ? ws[j] / picked : ws[j]);
  for (int j = 1; j < a.top_k; ++j) {  // insertion sort by expert id
    for (int i = j; i > 0 && ids[i] < ids[i - 1]; --i) {
      const int32_t te = ids[i];
      ids[i] = ids[i - 1];
      ids[i - 1] = te;
      const float tw = ws[i];
      ws[i] = ws[i - 1];
      ws[i - 1] = tw;
    }
  }
  for (int j = 0; j < a.top_k; ++j) {
    sel_e[t * a.top_k + j] = ids[j];
    sel_w[t * a.top_k + j] = ws[j];
    if (write_global) {
      a.sel_experts[t * a.top_k + j] = ids[j];
      a.sel_weights[t * a.top_k + j] = ws[j];
    }
  }
}

template <typename T, int U>
__global__ void __launch_bounds__(kThreads, kMaxBlocksPerSm) moe_up_kernel(MoeSmallArgs a) {
  extern __shared__ float4 smem_vec[];
  float* xs = reinterpret_cast<float*>(smem_vec);
  __shared__ int32_t sel_e[kGemvMaxRows * kMaxTopK];
  __shared__ float sel_w[kGemvMaxRows * kMaxTopK];
  const int m = static_cast<int>(a.m);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  pdl_wait();
  pdl_trigger();
  if (warp < m) route_token<T>(a, warp, sel_e, sel_w, blockIdx.x == 0);
  stage_rows<T>(static_cast<const T*>(a.xn), nullptr, 0.f, nullptr, xs, m, a.k);  // ends with a barrier
  const int64_t I = a.inter, S = a.shared_inter, K = a.k;
  const int64_t per_token = a.top_k * I + S;
  const T* egu = static_cast<const T*>(a.experts_gate_up);
  const T* sgu = static_cast<const T*>(a.shared_gate_up);
  const int64_t total_warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp; row < m * per_token; row += total_warps) {
    const int64_t t = row / per_token, rem = row % per_token;
    const T* rows[2];
    T* dst;
    if (rem < a.top_k * I) {
      const int64_t j = rem / I, i = rem % I, e = sel_e[t * a.top_k + j];
      rows[0] = egu + (e * 2 * I + i) * K;
      rows[1] = rows[0] + I * K;
      dst = static_cast<T*>(a.h_routed) + (t * a.top_k + j) * I + i;
    } else {
      const int64_t i = rem - a.top_k * I;
      rows[0] = sgu + i * K;
      rows[1] = sgu + (S + i) * K;
      dst = static_cast<T*>(a.h_shared) + t * S + i;
    }
    const float* xr[2] = {xs + t * K, xs + t * K};
    float acc[2][1] = {{0.f}, {0.f}};
    uint4 raw[2 * U];
    rows_dot<T, 2, 1, U>(rows, xr, K, 1, K, lane, acc, raw, false);
    const float g = round_to<T>(warp_sum(acc[0][0])), u = round_to<T>(warp_sum(acc[1][0]));
    if (lane == 0) *dst = from_float<T>(round_to<T>(g / (1.f + expf(-g))) * u);
  }
}

template <typename T, int U>
__device__ __forceinline__ float warp_dot(const T* w, const float* x, int64_t k, int lane) {
  const T* rows[1] = {w};
  const float* xr[1] = {x};
  float acc[1][1] = {{0.f}};
  uint4 raw[U];
  rows_dot<T, 1, 1, U>(rows, xr, k, 1, k, lane, acc, raw, false);
  return warp_sum(acc[0][0]);
}

template <typename T, int U>
__global__ void __launch_bounds__(kThreads, kMaxBlocksPerSm) moe_down_kernel(MoeSmallArgs a) {
  extern __shared__ float4 smem_vec[];
  float* hs = reinterpret_cast<float*>(smem_vec);  // [m, top_k, I] then [m, S]
  const int m = static_cast<int>(a.m);
  const int64_t I = a.inter, S = a.shared_inter, K = a.k, E = a.experts;
  pdl_wait();
  pdl_trigger();
  stage_flat<T>(static_cast<const T*>(a.h_routed), hs, m * a.top_k * I);
  float* hsh = hs + m * a.top_k * I;
  stage_flat<T>(static_cast<const T*>(a.h_shared), hsh, m * S);
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const T* ed = static_cast<const T*>(a.experts_down);
  const T* sd = static_cast<const T*>(a.shared_down);
  const T* logits = static_cast<const T*>(a.logits);
  const T* res = static_cast<const T*>(a.residual);
  const int64_t total_warps = static_cast<int64_t>(gridDim.x) * kWarps;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kWarps + warp; n < K; n += total_warps) {
    for (int t = 0; t < m; ++t) {
      float routed = 0.f;
      for (int64_t j = 0; j < a.top_k; ++j) {
        const int64_t e = a.sel_experts[t * a.top_k + j];
        const float d = round_to<T>(warp_dot<T, U>(ed + (e * K + n) * I, hs + (t * a.top_k + j) * I, I, lane));
        routed = round_to<T>(routed + round_to<T>(d * a.sel_weights[t * a.top_k + j]));
      }
      const float shared = round_to<T>(warp_dot<T, U>(sd + n * S, hsh + t * S, S, lane));
      const float gate = round_to<T>(1.f / (1.f + expf(-to_float(logits[t * (E + 1) + E]))));
      const float y = round_to<T>(routed + round_to<T>(gate * shared));
      if (lane == 0) static_cast<T*>(a.out)[t * K + n] = from_float<T>(to_float(res[t * K + n]) + y);
    }
  }
}

// ---- launch helpers ----

// Usable dynamic shared memory: what is left beside the kernels' static shared memory.
int64_t max_dynamic_smem() { return device_props().smem_optin - 4096; }

// Blocks to launch for `rows` warp tasks: as many as fit on the GPU at once, and no more than there are tasks.
template <typename Kernel>
unsigned grid_for(Kernel kernel, int64_t smem, int64_t rows) {
  int per_sm = 1;
  // The kernels' static shared memory counts against the same limit: set the dynamic part's always.
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, static_cast<size_t>(smem));
  const int64_t fit = device_props().sms * std::min(blocks_per_sm(), std::max(1, per_sm));
  const int64_t needed = (rows + kWarps - 1) / kWarps;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(fit, needed)));
}

int64_t elem_size(int dtype) { return dtype == kF32 ? 4 : 2; }

// Calls f with the kernels' row capacity for m rows (1, 2 or 4) as a std::integral_constant.
template <typename F>
void by_rows(int64_t m, F&& f) {
  if (m <= 1) f(std::integral_constant<int, 1>());
  else if (m <= 2) f(std::integral_constant<int, 2>());
  else f(std::integral_constant<int, 4>());
}

}  // namespace

// Dynamic shared memory of gemv_kernel: the m staged rows as float32, plus the norm weights when a norm is fused.
static int64_t gemv_smem_bytes(int64_t m, int64_t k, bool norm) { return (m + (norm ? 1 : 0)) * k * 4; }

bool gemv_supported(int dtype, int64_t m, int64_t k, bool norm) {
  const int64_t vec = 16 / elem_size(dtype);
  return m >= 1 && m <= kGemvMaxRows && k > 0 && k % vec == 0 && gemv_smem_bytes(m, k, norm) <= max_dynamic_smem();
}

void gemv(int dtype, const GemvArgs& args, void* stream) {
  const int64_t smem = gemv_smem_bytes(args.m, args.k, args.norm_weight != nullptr);
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto launch = [&](auto kernel) {
      const unsigned grid = grid_for(kernel, smem, args.n);
      launch_dependent(kernel, dim3(grid), dim3(kThreads), static_cast<size_t>(smem), as_stream(stream), args);
    };
    // The SwiGLU build or the plain one of the same kernel.
    auto launch_for = [&](auto swiglu_kernel, auto plain_kernel) {
      if (args.swiglu) launch(swiglu_kernel);
      else launch(plain_kernel);
    };
    by_rows(args.m, [&](auto rows) {
      constexpr int M = decltype(rows)::value, B = kDefaultBlocksPerSm;
      if constexpr (M == 4) {
        const int wide = wide_four_rows();
        if (wide == 1) return launch_for(gemv_kernel<T, M, true, 8, B>, gemv_kernel<T, M, false, 8, B>);
        if (wide == 2) return launch_for(gemv_kernel<T, M, true, 8, B, true>, gemv_kernel<T, M, false, 8, B, true>);
      }
      launch_for(gemv_kernel<T, M, true, raw_vectors<M>()>, gemv_kernel<T, M, false, raw_vectors<M>()>);
    });
  });
}

namespace {
int64_t chain_smem_bytes(const GemvChainArgs& c) {
  int64_t smem = 0;
  for (int i = 0; i < c.links; ++i) {
    smem = std::max(smem, gemv_smem_bytes(c.link[i].m, c.link[i].k, c.link[i].norm_weight != nullptr));
  }
  return smem;
}
}  // namespace

bool gemv_chain_supported(int dtype, const GemvChainArgs& c) {
  if (c.links < 1 || c.links > kMaxChainLinks || device_props().major < 7) return false;
  for (int i = 0; i < c.links; ++i) {
    const GemvArgs& a = c.link[i];
    if (a.m != c.link[0].m || !gemv_supported(dtype, a.m, a.k, a.norm_weight != nullptr)) return false;
  }
  return chain_smem_bytes(c) <= max_dynamic_smem();
}

void gemv_chain(int dtype, const GemvChainArgs& c, void* stream) {
  const int64_t smem = chain_smem_bytes(c);
  int64_t rows = 0;
  for (int i = 0; i < c.links; ++i) rows = std::max(rows, c.link[i].n);
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto launch = [&](auto kernel) {
      // Every block must be resident for the grid barrier: grid_for launches at most what fits at once, and
      // the cooperative launch makes the driver refuse (not hang) if that ever does not hold.
      LaunchOptions cooperative;
      cooperative.cooperative = true;
      launch_dependent(cooperative, kernel, dim3(grid_for(kernel, smem, rows)), dim3(kThreads),
                       static_cast<size_t>(smem), as_stream(stream), c);
    };
    by_rows(c.link[0].m, [&](auto m) { launch(gemv_chain_kernel<T, decltype(m)::value>); });
  });
}

bool moe_small_supported(int dtype, int64_t m, int64_t k, int64_t experts, int64_t top_k, int64_t inter,
                         int64_t shared_inter) {
  const int64_t vec = 16 / elem_size(dtype);
  const int64_t limit = max_dynamic_smem();
  return m >= 1 && m <= kGemvMaxRows && experts >= 1 && experts <= kMaxExperts && top_k >= 1 && top_k <= kMaxTopK &&
         top_k <= experts && k % vec == 0 && inter % vec == 0 && shared_inter > 0 && shared_inter % vec == 0 &&
         m * k * 4 <= limit && m * (top_k * inter + shared_inter) * 4 <= limit;
}

void moe_small_up(int dtype, const MoeSmallArgs& args, void* stream) {
  const int64_t smem = args.m * args.k * 4;
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto kernel = moe_up_kernel<T, 4>;
    const unsigned grid = grid_for(kernel, smem, args.m * (args.top_k * args.inter + args.shared_inter));
    launch_dependent(kernel, dim3(grid), dim3(kThreads), static_cast<size_t>(smem), as_stream(stream), args);
  });
}

void moe_small_down(int dtype, const MoeSmallArgs& args, void* stream) {
  const int64_t smem = args.m * (args.top_k * args.inter + args.shared_inter) * 4;
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto kernel = moe_down_kernel<T, 8>;
    const unsigned grid = grid_for(kernel, smem, args.k);
    launch_dependent(kernel, dim3(grid), dim3(kThreads), static_cast<size_t>(smem), as_stream(stream), args);
  });
}

}  // namespace lil::kernels
