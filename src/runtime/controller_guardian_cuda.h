#pragma once
// Tensor wrapper of the GPU LZ77 parse (src/kernels/lz77.h) used by Guardian on CUDA models: it owns each
// row's token history and parse state on the device. Appending a step's tokens launches one tiny kernel and
// never synchronises; a check launches the parse and reads back only the checked rows' state (C, the stop
// flag and the totals). In a build without the CUDA kernels the constructor throws.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "core/lz77.h"

namespace lil {

class Lz77CudaMeter {
 public:
  // Room for `rows` sequences of at most `capacity` tokens each on the CUDA `device`; the stop rule fires
  // when C grows by less than `threshold` between two checks of a row.
  Lz77CudaMeter(const Lz77Params& params, double threshold, int64_t rows, int64_t capacity, c10::Device device);

  // Whether this build has the kernels.
  static bool available();

  // One decode step: tokens [rows] (any integer type), active [rows] bool, on the meter's device.
  void append(const at::Tensor& tokens, const at::Tensor& active);

  struct Reading {
    int64_t length = 0;  // tokens in the row's device history
    int64_t literals = 0;
    int64_t matches = 0;
    int64_t matched_tokens = 0;
    int64_t cost = 0;    // C
    bool fired = false;
  };
  // Parses, for each listed row, the tokens appended since its previous check as one block and applies the
  // rule; `max_block` must be at least each row's count of new tokens. Blocks the host until the readings
  // are copied back. std::logic_error when a row's history overflowed or its block exceeded max_block.
  std::vector<Reading> check(const std::vector<int64_t>& rows, int64_t max_block);

  // [rows, 8] int64 on the device, laid out as kernels::Lz77RowState (column 6 is the stop flag).
  const at::Tensor& state() const { return state_; }
  int64_t capacity() const { return capacity_; }

 private:
  Lz77Params params_;
  double threshold_;
  int64_t rows_;
  int64_t capacity_;
  c10::Device device_;
  at::Tensor history_;  // [rows, capacity] int32
  at::Tensor state_;
};

}  // namespace lil
