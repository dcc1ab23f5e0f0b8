#pragma once
// N-gram repetition: stop a row when some n-gram of token ids occurs at least `repeats` times within its
// last `window` generated tokens (occurrences may overlap; only n-grams lying wholly inside the window
// count). Catches the verbatim loops that make reasoning runs hit the length cap, at a cost of
// O(window * n) per check on the host. The signal is the count of the most frequent n-gram in the window.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/controller.h"

namespace lil {

struct NgramOptions {
  int64_t every = 250;
  int64_t n = 16;
  int64_t repeats = 4;
  int64_t window = 1024;
};

// How often the most frequent n-gram occurs among tokens[begin, end).
int64_t most_repeated_ngram_count(const std::vector<int32_t>& tokens, size_t begin, size_t end, size_t n);

class NgramRepetitionController : public StopController {
 public:
  explicit NgramRepetitionController(const NgramOptions& options);

  std::string name() const override { return "ngram_repetition"; }
  int64_t check_every() const override { return options_.every; }
  void reset(const ControllerContext& context) override;
  std::vector<ControllerCheck> check(const std::vector<bool>& should_check,
                                     const std::vector<std::vector<int32_t>>& generated) override;

 private:
  NgramOptions options_;
};

}  // namespace lil
