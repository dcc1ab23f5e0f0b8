#pragma once
// GPU twin of the LZ77 reference (core/lz77.h) for Guardian: the same block-wise greedy parse, agreeing with
// the CPU parser exactly (tests/torch/controller_guardian_cuda_test.cpp). Raw pointers only, so neither
// this header nor the .cu includes torch; runtime/controller_guardian_cuda.cpp wraps it for tensors.
//
// Each row keeps its token history and parse state on the device. A decode step appends one token per
// active row (no host involvement). A check parses, for each checked row, the tokens added since its last
// check as one block: one thread block per position of the block finds that position's longest earlier
// match by scanning all earlier starts in parallel, nearest first, stopping early once a start reaches the
// longest possible length (so repetitive output, Guardian's target, is cheap); one thread per row then
// walks the block greedily and applies the stop rule, leaving the stop flag on the device.
//
// Cost of a check of a block of f tokens after n: O(f * n) token comparisons in the worst case (f = 250,
// n = 128k: 3.3e7), run in parallel; the greedy walk is O(f) on one thread.
#include <cstdint>

namespace lil::kernels {

// One row's state on the device (an int64 [rows, 8] tensor on the torch side).
struct Lz77RowState {
  int64_t length;          // tokens in the row's history (appends past the capacity are counted, not stored)
  int64_t parsed;          // tokens parsed so far: the end of the last checked block
  int64_t literals;
  int64_t matches;
  int64_t matched_tokens;  // tokens covered by matches
  int64_t cost;            // C at the last check (0 before the first)
  int64_t fired;           // 1 when the last check's growth cost - previous cost was below the threshold
  int64_t status;          // Lz77Status of the last check
};
constexpr int64_t kLz77StateFields = 8;
static_assert(sizeof(Lz77RowState) == kLz77StateFields * sizeof(int64_t), "Lz77RowState must be 8 int64");

enum Lz77Status : int64_t {
  kLz77Ok = 0,
  kLz77HistoryOverflow = 1,  // more tokens than the history holds
  kLz77BlockTooLong = 2,     // the row's new tokens exceed the launch's max_block
};

struct Lz77KernelParams {
  int64_t min_match = 3;
  int64_t max_match = 255;
  int64_t literal_cost = 2;
  int64_t match_cost = 3;
  double threshold = 20;  // Guardian's t: fire when cost - previous cost < threshold
};

// Appends tokens[b] to row b's history where active[b] (one decode step). history is [rows, capacity] int32,
// state [rows], tokens [rows] int64, active [rows] bool, all on the device; `stream` is a cudaStream_t.
// Throws std::runtime_error on a launch failure.
void lz77_append_tokens(int32_t* history, int64_t capacity, Lz77RowState* state, const int64_t* tokens,
                        const bool* active, int64_t rows, void* stream);

// One check of the `checked_count` rows listed in `checked_rows` (device int32): parses each row's tokens
// [parsed, length) as one block, updates its totals and sets `fired` and `status`. `max_block` must bound
// length - parsed of every checked row (a row above it gets kLz77BlockTooLong and is left unparsed);
// `match_scratch` holds checked_count * max_block int32. Nothing is read back: the caller copies the state.
void lz77_check(const int32_t* history, int64_t capacity, Lz77RowState* state, const int32_t* checked_rows,
                int64_t checked_count, int64_t max_block, const Lz77KernelParams& params, int32_t* match_scratch,
                void* stream);

}  // namespace lil::kernels
