// GPU twin of the LZ77 reference; see lz77.h for the layout and core/lz77.h for the parse it must equal.
#include "kernels/lz77.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lil::kernels {
namespace {

constexpr int kMatchThreads = 256;
// Candidates each thread compares between two block-wide "has anyone reached the cap" votes: more means
// fewer barriers on long histories, fewer means an earlier stop on repetitive ones.
constexpr int kCandidatesPerThread = 4;
constexpr int64_t kMaxGridX = int64_t{1} << 20;

void check_launch(const char* kernel) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    throw std::runtime_error(std::string("lz77 kernel ") + kernel + ": " + cudaGetErrorString(error));
  }
}

__global__ void append_tokens_kernel(int32_t* history, int64_t capacity, Lz77RowState* state, const int64_t* tokens,
                                     const bool* active, int64_t rows) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (row >= rows || !active[row]) return;
  const int64_t length = state[row].length;
  if (length < capacity) history[row * capacity + length] = static_cast<int32_t>(tokens[row]);
  state[row].length = length + 1;
}

__device__ int block_max(int value, int* shared_warp_max) {
  for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) shared_warp_max[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = threadIdx.x < blockDim.x / 32 ? shared_warp_max[threadIdx.x] : 0;
    for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
  }
  __syncthreads();  // shared_warp_max is reused by the next position
  return value;     // valid in thread 0
}

// match_lengths[slot, offset] = the longest earlier match at position parsed + offset of row
// checked_rows[slot], capped at min(max_match, length - p); 0 when below min_match (a literal).
__global__ void __launch_bounds__(kMatchThreads)
    longest_match_kernel(const int32_t* history, int64_t capacity, const Lz77RowState* state,
                         const int32_t* checked_rows, int64_t max_block, int64_t min_match, int64_t max_match,
                         int32_t* match_lengths) {
  __shared__ int shared_warp_max[kMatchThreads / 32];
  const int64_t slot = blockIdx.y;
  const int64_t row = checked_rows[slot];
  const int64_t start = state[row].parsed;
  const int64_t end = min(state[row].length, capacity);
  const int32_t* tokens = history + row * capacity;
  for (int64_t offset = blockIdx.x; offset < max_block; offset += gridDim.x) {
    const int64_t p = start + offset;
    if (p >= end) break;  // uniform across the block
    const int cap = static_cast<int>(min(max_match, end - p));
    int best = 0;
    if (cap >= min_match) {
      const int32_t first = tokens[p];
      // Nearest starts first: in a loop the source is usually close, and reaching the cap ends the search.
      for (int64_t base = p - 1; base >= 0; base -= int64_t{kMatchThreads} * kCandidatesPerThread) {
        for (int k = 0; k < kCandidatesPerThread; ++k) {
          const int64_t j = base - threadIdx.x - int64_t{k} * kMatchThreads;
          if (j < 0 || tokens[j] != first) continue;
          int length = 1;
          while (length < cap && tokens[j + length] == tokens[p + length]) ++length;
          best = max(best, length);
        }
        if (__syncthreads_or(best == cap)) break;
      }
      best = block_max(best, shared_warp_max);
    }
    if (threadIdx.x == 0) match_lengths[slot * max_block + offset] = best >= min_match ? best : 0;
  }
}

// One thread per checked row: the greedy walk over the block's match lengths, then Guardian's rule.
__global__ void greedy_parse_kernel(Lz77RowState* state, const int32_t* checked_rows, int64_t checked_count,
                                    int64_t capacity, int64_t max_block, Lz77KernelParams params,
                                    const int32_t* match_lengths) {
  const int64_t slot = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (slot >= checked_count) return;
  Lz77RowState& row = state[checked_rows[slot]];
  row.fired = 0;
  if (row.length > capacity) {
    row.status = kLz77HistoryOverflow;
    return;
  }
  if (row.length - row.parsed > max_block) {
    row.status = kLz77BlockTooLong;
    return;
  }
  row.status = kLz77Ok;
  const int32_t* lengths = match_lengths + slot * max_block;
  for (int64_t p = row.parsed; p < row.length;) {
    const int64_t length = lengths[p - row.parsed];
    if (length >= params.min_match) {
      row.matches += 1;
      row.matched_tokens += length;
      p += length;
    } else {
      row.literals += 1;
      p += 1;
    }
  }
  row.parsed = row.length;
  const int64_t cost = row.literals * params.literal_cost + row.matches * params.match_cost;
  row.fired = static_cast<double>(cost - row.cost) < params.threshold ? 1 : 0;
  row.cost = cost;
}

}  // namespace

void lz77_append_tokens(int32_t* history, int64_t capacity, Lz77RowState* state, const int64_t* tokens,
                        const bool* active, int64_t rows, void* stream) {
  if (rows <= 0) return;
  constexpr int kThreads = 128;
  const auto blocks = static_cast<unsigned>((rows + kThreads - 1) / kThreads);
  append_tokens_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(history, capacity, state, tokens,
                                                                                  active, rows);
  check_launch("append_tokens");
}

void lz77_check(const int32_t* history, int64_t capacity, Lz77RowState* state, const int32_t* checked_rows,
                int64_t checked_count, int64_t max_block, const Lz77KernelParams& params, int32_t* match_scratch,
                void* stream) {
  if (checked_count <= 0) return;
  if (checked_count > 65535) throw std::runtime_error("lz77_check: more than 65535 rows in one check");
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (max_block > 0) {
    const dim3 grid(static_cast<unsigned>(std::min(max_block, kMaxGridX)), static_cast<unsigned>(checked_count));
    longest_match_kernel<<<grid, kMatchThreads, 0, cuda_stream>>>(history, capacity, state, checked_rows, max_block,
                                                                  params.min_match, params.max_match, match_scratch);
    check_launch("longest_match");
  }
  constexpr int kThreads = 64;
  const auto blocks = static_cast<unsigned>((checked_count + kThreads - 1) / kThreads);
  greedy_parse_kernel<<<blocks, kThreads, 0, cuda_stream>>>(state, checked_rows, checked_count, capacity, max_block,
                                                            params, match_scratch);
  check_launch("greedy_parse");
}

}  // namespace lil::kernels
