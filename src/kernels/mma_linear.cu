// Linear layers of decode steps with 5 to 32 rows on the tensor cores, with the same fused neighbours as the
// GEMV kernel (RMSNorm, bias, SwiGLU, residual, float32 out; see decode_kernels.h, GemvArgs). Off unless
// LIL_MMA_LINEAR=1 (runtime/fast_decode.h, tensor_core_linear): on an H100 it measured 10-20% slower per step
// than cuBLAS with the separate norm/SwiGLU kernels, its blocks repeating the staging and normalisation of
// their K slice of all the input rows (results/gpu/README.md, ninth session). Below five rows
// gemv_kernels.cu streams the weights through the CUDA cores; from about eight rows those dot products, not
// the memory, limit a step, and cuBLAS at M = 32 leaves the RMSNorm, SwiGLU and residual to kernels of their
// own and, on the narrow projections, too few blocks to stream the weights at the memory bandwidth.
//
// Layout of the work (Hopper: thread block clusters and distributed shared memory):
// - A cluster of S blocks covers a tile of 128 / kwb weight rows (64 / kwb outputs with SwiGLU: gate and up
//   rows side by side); block `rank` of the cluster takes the rank-th slice of K. Clusters loop over tiles.
// - Each block stages its slice of the m input rows in shared memory once, as T (rows padded so the
//   fragment loads meet no bank conflict). With a fused RMSNorm the blocks add up their slices' sums of
//   squares through distributed shared memory, then normalise their slice in place (Hugging Face's rounding).
// - Each warp owns 16 weight rows (one m16 tile; kwb warps split the block's slice by 64-element chunks) and
//   streams them with 16-byte loads straight into mma.m16n8k16 A fragments. Any order of k in a dot product
//   gives the same sum, so a lane's two loads of 8 contiguous weights per row feed two MMAs, and the B
//   fragment (the staged inputs) is read with the same permutation: one 16-byte shared load per n-tile.
// - The warps' float32 partial tiles go to shared memory; after a cluster barrier each block sums its share of
//   the tile's outputs over the cluster's blocks and k-groups in a fixed order (deterministic) and applies the
//   epilogue.
#include <cooperative_groups.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>

#include "kernels/cuda_common.cuh"
#include "kernels/decode_kernels.h"

namespace lil::kernels {

namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileRows = 16 * kWarps;  // weight rows per tile when kwb = 1
constexpr int kChunk = 64;              // k elements per warp step: two 16-byte loads per row and lane
constexpr int kPad = 32;                // elements added to each staged row: rows 64 bytes apart mod 128
constexpr int kMaxCluster = 8;          // the portable cluster size
constexpr int kStages = 4;              // chunks of a warp's weights in flight (cp.async ring in shared memory)
constexpr int kChunkBytes = 16 * kChunk * 2;  // one chunk of a warp's 16 rows
constexpr int kRingBytes = kWarps * kStages * kChunkBytes;
// Partial rows a block receives per tile: s * kwb * rs <= 128 + 2 * s * kwb (rs rounds the tile's outputs up
// to a multiple of s, doubled with SwiGLU).
constexpr int kRecvRows = kTileRows + 2 * kMaxCluster * 4;

struct MmaPlan {
  int s = 1;       // blocks per cluster: K slices
  int kwb = 1;     // k-groups of warps per block
  int64_t ks = 0;  // K elements per slice (a multiple of kChunk)
  int64_t tiles = 0;     // weight tiles (each covered by one cluster)
  int64_t clusters = 0;  // clusters launched (they loop over the tiles)
};

// The weight row behind row r (0..15) of m-tile `mt` of tile `tile`, or -1 past the last output. With SwiGLU an
// m-tile covers 8 outputs: rows 0..7 are their gate rows and rows 8..15 the matching up rows, so the lane that
// holds an output's gate sum (accumulator c) holds its up sum too (accumulator c + 2).
template <bool SWIGLU>
__device__ __forceinline__ int64_t weight_row(int64_t tile, int mt, int r, int mtb, int64_t n) {
  if constexpr (SWIGLU) {
    const int64_t out = tile * 8 * mtb + mt * 8 + (r & 7);
    return out < n ? (r < 8 ? out : n + out) : -1;
  } else {
    const int64_t out = tile * 16 * mtb + mt * 16 + r;
    return out < n ? out : -1;
  }
}

// Starts copying chunk `c` (of the block's slice) of weight rows row0 and row1 into ring slot `slot` (4 x 16
// bytes per lane, stored lane-contiguous so the lane's reads back meet no bank conflict): for lane quad
// position q the 8 elements at c * 64 + 8q and the 8 at c * 64 + 32 + 8q of each row, zeros past k_end or for
// a missing row (a copy of 0 source bytes fills zeros). Each lane later reads only what it copied itself.
template <typename T>
__device__ __forceinline__ void copy_weights(const T* w, int64_t k, int64_t row0, int64_t row1, int64_t kb,
                                             int64_t k_end, int64_t c, int q, int lane, uint4* slot) {
  const int64_t k0 = kb + c * kChunk + 8 * q, k1 = k0 + 32;
  const T* src[4] = {w + row0 * k + k0, w + row0 * k + k1, w + row1 * k + k0, w + row1 * k + k1};
  const bool ok[4] = {row0 >= 0 && k0 < k_end, row0 >= 0 && k1 < k_end, row1 >= 0 && k0 < k_end,
                      row1 >= 0 && k1 < k_end};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(slot + j * 32 + lane));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(ok[j] ? src[j] : w),
                 "r"(ok[j] ? 16 : 0)
                 : "memory");
  }
}
__device__ __forceinline__ void copy_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void copy_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// The epilogue of one output value (the GEMV kernel's): SwiGLU of the gate and up sums, or bias and residual.
template <typename T, bool SWIGLU>
__device__ __forceinline__ void store_out(const GemvArgs& a, int64_t out, int t, float sum, float up, float bias_v,
                                          float res_v) {
  float y;
  if constexpr (SWIGLU) {
    const float gv = round_to<T>(sum), uv = round_to<T>(up);
    y = round_to<T>(gv / (1.f + expf(-gv))) * uv;
  } else {
    y = sum + bias_v;
    if (a.residual != nullptr) y = res_v + round_to<T>(y);
  }
  const int64_t at = t * a.n + out;
  if (a.out_float) static_cast<float*>(a.out)[at] = round_to<T>(y);
  else static_cast<T*>(a.out)[at] = from_float<T>(y);
}

constexpr int kPrefetch = 4;  // epilogue operands (bias, residual) a thread loads before the weights stream

template <typename T, int NT, bool SWIGLU>
__global__ void __launch_bounds__(kThreads, 2) mma_linear_kernel(GemvArgs a, MmaPlan p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int MP = 8 * NT;  // staged rows (m padded to the n-tiles)
  extern __shared__ float4 smem_vec[];
  __shared__ float ss_all[kMaxCluster * MP];  // sums of squares of every block's slice (fused norm), by rank
  __shared__ float inv[MP];
  cg::cluster_group cluster = cg::this_cluster();
  const int s = p.s, rank = static_cast<int>(cluster.block_rank());
  const int64_t n_clusters = gridDim.x / s, first_tile = blockIdx.x / s;
  const int m = static_cast<int>(a.m);
  const int64_t K = a.k, ksp = p.ks + kPad;
  const int kwb = p.kwb, mtb = kWarps / kwb;
  const bool direct = s == 1 && kwb == 1;  // each warp holds whole sums: the epilogue runs from its registers
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, q = lane % 4;
  const int mt = warp % mtb, kg = warp / mtb;
  const int64_t kb = rank * p.ks, k_end = K < kb + p.ks ? K : kb + p.ks;
  const int64_t span = k_end > kb ? k_end - kb : 0;
  const int64_t chunks = (span + kChunk - 1) / kChunk;
  const int outs = SWIGLU ? 8 * mtb : 16 * mtb;  // outputs per tile
  const int share = (outs + s - 1) / s;          // outputs of a tile this block finishes
  const int rs = SWIGLU ? 2 * share : share;     // partial rows it receives from each (block, k-group)
  T* xs = reinterpret_cast<T*>(smem_vec);                   // [MP + 1][ksp]: inputs, then the norm weights
  float* recv = reinterpret_cast<float*>(xs + (MP + 1) * ksp);  // [s * kwb][rs][MP]
  uint4* ring = reinterpret_cast<uint4*>(recv + kRecvRows * MP) + warp * kStages * (kChunkBytes / 16);
  const T* W = static_cast<const T*>(a.w);

  // The first tile's first chunks go out before the inputs are staged (weights do not depend on earlier
  // kernels): each warp keeps kStages chunks of its 16 rows in flight through its ring of shared memory.
  int64_t row0 = -1, row1 = -1;
  auto prologue = [&](int64_t tile) {
    row0 = weight_row<SWIGLU>(tile, mt, g, mtb, a.n);
    row1 = weight_row<SWIGLU>(tile, mt, g + 8, mtb, a.n);
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      const int64_t c = kg + static_cast<int64_t>(st) * kwb;
      if (c < chunks) copy_weights<T>(W, K, row0, row1, kb, k_end, c, q, lane, ring + st * (kChunkBytes / 16));
      copy_commit();
    }
  };
  if (first_tile < p.tiles) prologue(first_tile);
  pdl_wait();

  // Stage this block's K slice of the inputs (zeros past m and past the slice, up to the last chunk's end),
  // and of the norm weights (row MP). Warp w stages rows w, w + 8, ... (NT of them), two vectors per row and
  // lane in flight, and sums their squares when a norm is fused (per row in a fixed order).
  const int64_t vecs = chunks * (kChunk / 8);  // 16-byte vectors per staged row
  const T* X = static_cast<const T*>(a.x);
  const T* NW = static_cast<const T*>(a.norm_weight);
  const bool norm = NW != nullptr;
  float sums[NT];
#pragma unroll
  for (int j = 0; j < NT; ++j) sums[j] = 0.f;
  for (int64_t v0 = lane; v0 < vecs; v0 += 64) {
    uint4 val[2][NT], wv[2];
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int64_t col = kb + (v0 + 32 * u) * 8;
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int r = warp + kWarps * j;
        val[u][j] = r < m && col < k_end ? __ldg(reinterpret_cast<const uint4*>(X + r * K + col)) : make_uint4(0, 0, 0, 0);
      }
      wv[u] = norm && warp == 0 && col < k_end ? __ldg(reinterpret_cast<const uint4*>(NW + col)) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int64_t v = v0 + 32 * u;
      if (v >= vecs) continue;
      if (norm && warp == 0) *reinterpret_cast<uint4*>(xs + MP * ksp + v * 8) = wv[u];
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        *reinterpret_cast<uint4*>(xs + (warp + kWarps * j) * ksp + v * 8) = val[u][j];
        if (norm) {
          float f[8];
          unpack(val[u][j], f, static_cast<T*>(nullptr));
#pragma unroll
          for (int i = 0; i < 8; ++i) sums[j] = fmaf(f[i], f[i], sums[j]);
        }
      }
    }
  }
  if (norm) {
    // Every block's slice sums go to every block of the cluster (stores do not wait), then each adds them up
    // in rank order.
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      const float total = warp_sum(sums[j]);
      if (lane < s) cluster.map_shared_rank(ss_all, lane)[rank * MP + warp + kWarps * j] = total;
    }
    if (s > 1) cluster.sync();
    else __syncthreads();
    if (threadIdx.x < MP) {
      float total = 0.f;
      for (int b = 0; b < s; ++b) total += ss_all[b * MP + threadIdx.x];
      inv[threadIdx.x] = rsqrtf(total / static_cast<float>(K) + a.eps);
    }
    __syncthreads();
    // Normalise in place: Hugging Face's T(w * T(x * rsqrt(mean(x^2) + eps))); cluster 0 also writes it out.
    T* nout = first_tile == 0 ? static_cast<T*>(a.norm_out) : nullptr;
    for (int64_t v = lane; v < vecs; v += 32) {
      const int64_t col = kb + v * 8;
      if (col >= k_end) break;
      float w[8];
      unpack(*reinterpret_cast<const uint4*>(xs + MP * ksp + v * 8), w, static_cast<T*>(nullptr));
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int r = warp + kWarps * j;
        if (r >= m) continue;
        float f[8];
        unpack(*reinterpret_cast<const uint4*>(xs + r * ksp + v * 8), f, static_cast<T*>(nullptr));
        alignas(16) T o[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) o[i] = from_float<T>(w[i] * round_to<T>(f[i] * inv[r]));
        const uint4 packed = *reinterpret_cast<const uint4*>(o);
        *reinterpret_cast<uint4*>(xs + r * ksp + v * 8) = packed;
        if (nout != nullptr) *reinterpret_cast<uint4*>(nout + r * K + col) = packed;
      }
    }
  }
  __syncthreads();
  pdl_trigger();

  const T* bias = static_cast<const T*>(a.bias);
  const T* res = static_cast<const T*>(a.residual);
  for (int64_t tile = first_tile; tile < p.tiles; tile += n_clusters) {
    // This block's epilogue operands go out before the weights' sums are waited for.
    float pre_bias[kPrefetch], pre_res[kPrefetch];
    if (!direct) {
#pragma unroll
      for (int i = 0; i < kPrefetch; ++i) {
        const int idx = threadIdx.x + i * kThreads;
        const int o = rank * share + idx % share, t = idx / share;
        const int64_t out = tile * outs + o;
        const bool ok = idx < share * m && o < outs && out < a.n;
        pre_bias[i] = ok && bias != nullptr ? to_float(bias[out]) : 0.f;
        pre_res[i] = ok && res != nullptr ? to_float(res[t * a.n + out]) : 0.f;
      }
    }
    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
    int slot = 0;
    for (int64_t c = kg; c < chunks; c += kwb) {
      copy_wait<kStages - 1>();  // this chunk's copies (the oldest group) have landed
      const uint4* here = ring + slot * (kChunkBytes / 16);
      uint4 w[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) w[j] = here[j * 32 + lane];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const T* xr = xs + (nt * 8 + g) * ksp + c * kChunk + 8 * q;
        const uint4 xa = *reinterpret_cast<const uint4*>(xr);
        const uint4 xb = *reinterpret_cast<const uint4*>(xr + 32);
        mma16816<T>(acc[nt], w[0].x, w[2].x, w[0].y, w[2].y, xa.x, xa.y);
        mma16816<T>(acc[nt], w[0].z, w[2].z, w[0].w, w[2].w, xa.z, xa.w);
        mma16816<T>(acc[nt], w[1].x, w[3].x, w[1].y, w[3].y, xb.x, xb.y);
        mma16816<T>(acc[nt], w[1].z, w[3].z, w[1].w, w[3].w, xb.z, xb.w);
      }
      // Refill the slot just read (the MMAs above consumed its values) with the chunk kStages ahead.
      const int64_t next = c + static_cast<int64_t>(kStages) * kwb;
      if (next < chunks) copy_weights<T>(W, K, row0, row1, kb, k_end, next, q, lane, ring + slot * (kChunkBytes / 16));
      copy_commit();
      slot = slot + 1 == kStages ? 0 : slot + 1;
    }
    copy_wait<0>();
    const int64_t this_tile = tile;
    // The next tile's first chunks go out before this tile's epilogue.
    if (tile + n_clusters < p.tiles) prologue(tile + n_clusters);

    if (direct) {
      // Lane (g, q) holds rows g and g + 8 of its m-tile for inputs nt * 8 + 2q and + 1.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int t = nt * 8 + 2 * q + c;
          if (t >= m) continue;
          if constexpr (SWIGLU) {
            const int64_t out = this_tile * outs + mt * 8 + g;
            if (out < a.n) store_out<T, true>(a, out, t, acc[nt][c], acc[nt][c + 2], 0.f, 0.f);
          } else {
            const int64_t out0 = this_tile * outs + mt * 16 + g, out1 = out0 + 8;
            if (out0 < a.n) {
              store_out<T, false>(a, out0, t, acc[nt][c], 0.f, bias != nullptr ? to_float(bias[out0]) : 0.f,
                                  res != nullptr ? to_float(res[t * a.n + out0]) : 0.f);
            }
            if (out1 < a.n) {
              store_out<T, false>(a, out1, t, acc[nt][c + 2], 0.f, bias != nullptr ? to_float(bias[out1]) : 0.f,
                                  res != nullptr ? to_float(res[t * a.n + out1]) : 0.f);
            }
          }
        }
      }
      continue;
    }
    // Each partial sum goes to the block that finishes its output (stores into distributed shared memory do
    // not wait), then each block adds up what it received in a fixed order.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = g + 8 * half;
      const int o = SWIGLU ? mt * 8 + g : mt * 16 + r;
      const int owner = o / share;
      const int j = o - owner * share + (SWIGLU && half == 1 ? share : 0);
      float* base = owner == rank ? recv : cluster.map_shared_rank(recv, owner);
      float* dst = base + ((rank * kwb + kg) * rs + j) * MP;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        *reinterpret_cast<float2*>(dst + nt * 8 + 2 * q) = make_float2(acc[nt][2 * half], acc[nt][2 * half + 1]);
      }
    }
    if (s > 1) cluster.sync();
    else __syncthreads();
    auto finish = [&](int idx, float bias_v, float res_v, bool loaded) {
      const int ol = idx % share, t = idx / share, o = rank * share + ol;
      const int64_t out = this_tile * outs + o;
      if (o >= outs || out >= a.n) return;
      float sum = 0.f, up = 0.f;
      for (int src = 0; src < s * kwb; ++src) {
        const float* from = recv + (src * rs + ol) * MP + t;
        sum += from[0];
        if constexpr (SWIGLU) up += from[share * MP];
      }
      if (!loaded) {
        bias_v = bias != nullptr ? to_float(bias[out]) : 0.f;
        res_v = res != nullptr ? to_float(res[t * a.n + out]) : 0.f;
      }
      store_out<T, SWIGLU>(a, out, t, sum, up, bias_v, res_v);
    };
#pragma unroll
    for (int i = 0; i < kPrefetch; ++i) {
      const int idx = threadIdx.x + i * kThreads;
      if (idx < share * m) finish(idx, pre_bias[i], pre_res[i], true);
    }
    for (int idx = threadIdx.x + kPrefetch * kThreads; idx < share * m; idx += kThreads) finish(idx, 0.f, 0.f, false);
    // No block writes into another's partial rows for the next tile (or exits) while that one still reads.
    if (s > 1) cluster.sync();
    else __syncthreads();
  }
#endif
}

// ---- launch planning ----

// Dynamic shared memory a block may use beside the kernel's static shared memory (sums of squares).
int64_t smem_limit(const DeviceProps& dev) { return dev.smem_optin - 1024; }

int n_tiles_of(int64_t m) { return static_cast<int>((m + 7) / 8); }

int64_t smem_bytes(int64_t m, int64_t ks) {
  const int64_t mp = 8 * n_tiles_of(m);
  return (mp + 1) * (ks + kPad) * 2 + static_cast<int64_t>(kRecvRows) * mp * 4 + kRingBytes;
}

int64_t slice_of(int64_t k, int s) { return ((k + s - 1) / s + kChunk - 1) / kChunk * kChunk; }

// Blocks of one launch that the GPU holds at once (whole clusters of `s`).
template <typename Kernel>
int64_t resident_blocks(Kernel kernel, int s, int64_t smem, const DeviceProps& dev) {
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (s > 1) cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 0);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(s));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = static_cast<size_t>(smem);
  cudaLaunchAttribute cluster[3];
  LaunchOptions clustered;
  clustered.cluster = static_cast<unsigned>(s);
  config.numAttrs = launch_attributes(clustered, false, cluster);
  config.attrs = cluster;
  int clusters = 0;
  if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) != cudaSuccess) {
    cudaGetLastError();
    int per_sm = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, static_cast<size_t>(smem));
    clusters = dev.sms * per_sm / s;
  }
  return static_cast<int64_t>(clusters) * s;
}

// The launch with the least estimated time among cluster sizes s (K slices) and k-groups kwb, by a rough model
// of this kernel on a Hopper GPU: the clusters loop over the weight tiles in `passes`; in each, a block streams
// its share of a tile at the smaller of its fair share of the memory bandwidth and what its warps' rings keep
// in flight per memory round trip, then finishes the tile (from registers when s = kwb = 1; through shared
// memory and, across blocks, cluster barriers otherwise); once per launch each block stages its slice of the
// inputs (and, with a norm over several blocks, waits for their sums of squares).
template <typename Kernel>
MmaPlan choose_plan(Kernel kernel, int64_t m, int64_t n, int64_t k, bool swiglu, const DeviceProps& dev) {
  constexpr double kBandwidth = 3.0e12, kInFlightBw = kStages * kChunkBytes * kWarps / 1.5e-6, kL2Bw = 50e9;
  MmaPlan best;
  double best_time = 0;
  bool found = false;
  for (int kwb : {1, 2, 4}) {
    for (int s : {1, 2, 4, 8}) {
      const int64_t ks = slice_of(k, s);
      if (s > 1 && (s - 1) * ks >= k) continue;  // a slice would be empty
      const int64_t smem = smem_bytes(m, ks);
      if (smem > smem_limit(dev)) continue;
      const int64_t resident = resident_blocks(kernel, s, smem, dev);
      if (resident < s) continue;
      const int64_t outs = (kTileRows / kwb) / (swiglu ? 2 : 1);
      const int64_t tiles = (n + outs - 1) / outs;
      const int64_t clusters = std::max<int64_t>(1, std::min(tiles, resident / s));
      const int64_t passes = (tiles + clusters - 1) / clusters;
      const double block_bw = std::min(kBandwidth / static_cast<double>(clusters * s), kInFlightBw);
      const double tile_bytes = static_cast<double>(kTileRows / kwb) * static_cast<double>(ks) * 2.0;
      const double finish = s == 1 && kwb == 1 ? 0.3e-6 : s == 1 ? 1.5e-6 : 2.5e-6;
      const double stage = static_cast<double>(m * ks * 2) / kL2Bw + (s > 1 ? 1e-6 : 0.0);
      const double time = static_cast<double>(passes) * (tile_bytes / block_bw + finish) + stage;
      if (!found || time < best_time * 0.98) {  // ties (within 2%) go to the fewer splits tried first
        found = true;
        best_time = time;
        best.s = s;
        best.kwb = kwb;
        best.ks = ks;
        best.tiles = tiles;
        best.clusters = clusters;
      }
    }
  }
  return best;
}

}  // namespace

bool mma_linear_supported(int dtype, int64_t m, int64_t k) {
  if (dtype == kF32 || m < 1 || m > kMmaMaxRows || k <= 0 || k % 8 != 0) return false;
  const DeviceProps dev = device_props();
  return dev.major >= 9 && smem_bytes(m, slice_of(k, kMaxCluster)) <= smem_limit(dev);
}

void mma_linear(int dtype, const GemvArgs& args, void* stream) {
  static std::mutex mu;
  static std::map<std::tuple<int, int64_t, int64_t, int64_t, bool, int>, MmaPlan> plans;
  dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if constexpr (std::is_same_v<T, float>) {
      return;  // mma_linear_supported is false for float32
    } else {
      auto launch = [&](auto kernel) {
        const DeviceProps dev = device_props();
        int device = 0;
        cudaGetDevice(&device);
        MmaPlan plan;
        {
          std::lock_guard<std::mutex> lock(mu);
          const auto key = std::make_tuple(dtype, args.m, args.n, args.k, args.swiglu, device);
          auto it = plans.find(key);
          if (it == plans.end()) {
            it = plans.emplace(key, choose_plan(kernel, args.m, args.n, args.k, args.swiglu, dev)).first;
            if (const char* env = std::getenv("LIL_MMA_VERBOSE"); env != nullptr && env[0] == '1') {
              const MmaPlan& pl = it->second;
              std::fprintf(stderr, "mma_linear m=%lld n=%lld k=%lld swiglu=%d: cluster %d, k-groups %d, slice %lld, tiles %lld, clusters %lld, smem %lld\n",
                           static_cast<long long>(args.m), static_cast<long long>(args.n), static_cast<long long>(args.k),
                           args.swiglu ? 1 : 0, pl.s, pl.kwb, static_cast<long long>(pl.ks), static_cast<long long>(pl.tiles),
                           static_cast<long long>(pl.clusters), static_cast<long long>(smem_bytes(args.m, pl.ks)));
            }
          }
          plan = it->second;
        }
        const int64_t smem = smem_bytes(args.m, plan.ks);
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        LaunchOptions clustered;
        clustered.cluster = static_cast<unsigned>(plan.s);
        launch_dependent(clustered, kernel, dim3(static_cast<unsigned>(plan.clusters * plan.s)), dim3(kThreads),
                         static_cast<size_t>(smem), as_stream(stream), args, plan);
      };
      auto by_tiles = [&](auto swiglu_tag) {
        constexpr bool SW = decltype(swiglu_tag)::value;
        switch (n_tiles_of(args.m)) {
          case 1: launch(mma_linear_kernel<T, 1, SW>); break;
          case 2: launch(mma_linear_kernel<T, 2, SW>); break;
          case 3: launch(mma_linear_kernel<T, 3, SW>); break;
          default: launch(mma_linear_kernel<T, 4, SW>); break;
        }
      };
      if (args.swiglu) by_tiles(std::true_type());
      else by_tiles(std::false_type());
    }
  });
}

}  // namespace lil::kernels
