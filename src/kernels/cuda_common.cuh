#pragma once
// Device helpers shared by the CUDA kernels of src/kernels (element conversion with Hugging Face's rounding,
// 16-byte vector unpacking, warp sums, dtype dispatch). Included by .cu files only.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>

#include "kernels/decode_kernels.h"

namespace lil::kernels {
namespace {

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ float to_float<__half>(__half x) { return __half2float(x); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// The value as an op producing T would leave it (round to T and back).
template <typename T>
__device__ __forceinline__ float round_to(float x) { return to_float<T>(from_float<T>(x)); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// 16-byte vectors of T unpacked to float.
template <typename T>
struct Vec16 {
  static constexpr int kCount = 16 / sizeof(T);
};
__device__ __forceinline__ void unpack(const uint4& v, float (&out)[8], __nv_bfloat16*) {
  const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(p[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void unpack(const uint4& v, float (&out)[8], __half*) {
  const __half2* p = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(p[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void unpack(const uint4& v, float (&out)[8], float*) {
  out[0] = __uint_as_float(v.x);
  out[1] = __uint_as_float(v.y);
  out[2] = __uint_as_float(v.z);
  out[3] = __uint_as_float(v.w);
}

// Tensor-core pieces (sm_80 and later; lil's CUDA builds target sm_90a). On an older architecture they trap
// rather than compute something else.
// d += a b for one m16n8k16 tile of T (bf16 or fp16) with float accumulation, in the PTX fragment layouts.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// A float's bits as an unsigned key with the float's order (-0 and +0 the same key, so that equal floats are
// equal keys; NaN is not expected).
__device__ __forceinline__ uint32_t ordered_key(float v) {
  uint32_t u = __float_as_uint(v);
  if ((u << 1) == 0u) u = 0u;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The warp's largest key and the lowest lane holding it (all 32 lanes together): one redux and one ballot on
// sm_80 and later, five shuffle rounds below.
__device__ __forceinline__ uint32_t warp_max_key(uint32_t key, int* lane_of_max) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const uint32_t best = __reduce_max_sync(0xffffffffu, key);
#else
  uint32_t best = key;
  for (int offset = 16; offset > 0; offset >>= 1) {
    const uint32_t other = __shfl_xor_sync(0xffffffffu, best, offset);
    best = other > best ? other : best;
  }
#endif
  *lane_of_max = __ffs(__ballot_sync(0xffffffffu, key == best)) - 1;
  return best;
}

// Two floats rounded to T, packed into one 32-bit fragment register (the first in the low half).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

// The transpose of an 8x8 matrix of 16-bit elements held in the mma fragment layout (lane l: row l / 4,
// columns 2 (l % 4) and 2 (l % 4) + 1): lane l gets row l / 4 of the transpose.
__device__ __forceinline__ uint32_t transpose8x8(uint32_t x) {
  uint32_t y = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(y) : "r"(x));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
  (void)x;
  return y;
}

// Asks the memory system to bring `bytes` (a multiple of 16) from global memory at p (16-byte aligned) into L2,
// without waiting for it or taking a register (sm_90 bulk prefetch; a no-op below, where it is only a hint).
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#else
  (void)p, (void)bytes;
#endif
}

// Programmatic dependent launch (Hopper and later): a kernel launched with launch_dependent() may start while
// the kernel before it in the stream is still running. It must call pdl_wait() before it reads anything an
// earlier kernel wrote (or writes anything an earlier kernel may still read); before that it may only touch
// constant data (weights), e.g. prefetch them into L2. pdl_trigger() lets the next kernel start launching.
// Plain launches unless LIL_PDL=1 on an architecture that has it.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Off unless LIL_PDL=1: measured on an H200 (results/gpu/README.md) it made the decode step slower.
inline bool pdl_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("LIL_PDL");
    if (env == nullptr || std::strcmp(env, "1") != 0) return false;
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return false;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    return major >= 9;
  }();
  return enabled;
}

// What a launch may ask for beyond a plain one: thread-block clusters of `cluster` blocks (Hopper; 0 = no cluster
// attribute, 1 = clusters of one block), or a cooperative launch (every block resident, so the kernel may
// synchronise the whole grid).
struct LaunchOptions {
  unsigned cluster = 0;
  bool cooperative = false;
};

// The launch attributes for `o`, plus programmatic stream serialisation when `dependent`; returns how many.
inline unsigned launch_attributes(const LaunchOptions& o, bool dependent, cudaLaunchAttribute (&attrs)[3]) {
  unsigned n = 0;
  if (o.cluster > 0) {
    attrs[n].id = cudaLaunchAttributeClusterDimension;
    attrs[n].val.clusterDim.x = o.cluster;
    attrs[n].val.clusterDim.y = 1;
    attrs[n].val.clusterDim.z = 1;
    ++n;
  }
  if (o.cooperative) {
    attrs[n].id = cudaLaunchAttributeCooperative;
    attrs[n].val.cooperative = 1;
    ++n;
  }
  if (dependent) {
    attrs[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attrs[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  return n;
}

// Launches kernel<<<grid, block, smem, stream>>>(args...) with `o`'s attributes, as a programmatic dependent
// launch when enabled. Returns the launch's error (a cooperative launch that does not fit is refused).
template <typename... Params, typename... Args>
cudaError_t launch_dependent(const LaunchOptions& o, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                             cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attributes[3];
  config.numAttrs = launch_attributes(o, pdl_enabled(), attributes);
  config.attrs = attributes;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

template <typename... Params, typename... Args>
cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                             Args&&... args) {
  return launch_dependent(LaunchOptions{}, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

// The current device's SM count, compute capability (major) and opt-in shared memory per block, read once per
// device (the launchers run on every eager step); all zero but sms = 1 when no device answers.
struct DeviceProps {
  int64_t sms = 1;
  int major = 0;
  int64_t smem_optin = 0;
};
inline DeviceProps device_props() {
  static std::mutex mu;
  static int cached_device = -1;
  static DeviceProps cached;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return DeviceProps{};
  std::lock_guard<std::mutex> lock(mu);
  if (device != cached_device) {
    int sms = 1, major = 0, optin = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    cached = DeviceProps{sms, major, optin};
    cached_device = device;
  }
  return cached;
}

// Calls f with a null pointer of the element type named by an ElemType code.
template <typename F>
inline void dispatch(int dtype, F&& f) {
  switch (dtype) {
    case kF32: f(static_cast<float*>(nullptr)); break;
    case kF16: f(static_cast<__half*>(nullptr)); break;
    default: f(static_cast<__nv_bfloat16*>(nullptr)); break;
  }
}

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace
}  // namespace lil::kernels
