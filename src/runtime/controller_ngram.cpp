#include "runtime/controller_ngram.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_map>

namespace lil {

int64_t most_repeated_ngram_count(const std::vector<int32_t>& tokens, size_t begin, size_t end, size_t n) {
  end = std::min(end, tokens.size());
  if (n == 0 || begin >= end || end - begin < n) return 0;
  // A rolling polynomial hash (mod 2^64) finds candidate equal n-grams; equal hashes are confirmed by
  // comparing the tokens, so collisions cannot inflate a count.
  constexpr uint64_t kBase = 0x100000001b3ULL;
  uint64_t top_power = 1;  // kBase^(n-1)
  for (size_t i = 1; i < n; ++i) top_power *= kBase;
  auto token_value = [&](size_t i) { return static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 1; };
  uint64_t hash = 0;
  for (size_t i = begin; i < begin + n; ++i) hash = hash * kBase + token_value(i);

  struct Group {
    size_t first;  // start of the group's first occurrence
    int64_t count;
  };
  std::unordered_map<uint64_t, std::vector<Group>> groups;
  groups.reserve(end - begin);
  int64_t best = 0;
  for (size_t start = begin;; ++start) {
    std::vector<Group>& candidates = groups[hash];
    auto same = std::find_if(candidates.begin(), candidates.end(), [&](const Group& g) {
      return std::equal(tokens.begin() + static_cast<std::ptrdiff_t>(g.first),
                        tokens.begin() + static_cast<std::ptrdiff_t>(g.first + n),
                        tokens.begin() + static_cast<std::ptrdiff_t>(start));
    });
    if (same == candidates.end()) {
      candidates.push_back({start, 1});
      best = std::max<int64_t>(best, 1);
    } else {
      best = std::max(best, ++same->count);
    }
    if (start + n >= end) break;
    hash = (hash - token_value(start) * top_power) * kBase + token_value(start + n);
  }
  return best;
}

NgramRepetitionController::NgramRepetitionController(const NgramOptions& options) : options_(options) {
  if (options_.every < 1 || options_.n < 1 || options_.repeats < 2 || options_.window < options_.n) {
    throw std::invalid_argument("ngram_repetition: expected every, n >= 1, repeats >= 2 and window >= n");
  }
}

void NgramRepetitionController::reset(const ControllerContext& /*context*/) {}

std::vector<ControllerCheck> NgramRepetitionController::check(const std::vector<bool>& should_check,
                                                              const std::vector<std::vector<int32_t>>& generated) {
  if (should_check.size() != generated.size()) {
    throw std::invalid_argument("ngram_repetition: check got " + std::to_string(should_check.size()) + " flags for " +
                                std::to_string(generated.size()) + " rows");
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<ControllerCheck> checks(generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    if (!should_check[i]) continue;
    const std::vector<int32_t>& ids = generated[i];
    const size_t window = static_cast<size_t>(options_.window);
    const size_t begin = ids.size() > window ? ids.size() - window : 0;
    const int64_t count = most_repeated_ngram_count(ids, begin, ids.size(), static_cast<size_t>(options_.n));
    checks[i].step = static_cast<int64_t>(ids.size());
    checks[i].signal = static_cast<double>(count);
    checks[i].fired = count >= options_.repeats;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < checks.size(); ++i) {
    if (should_check[i]) checks[i].seconds = seconds;
  }
  return checks;
}

}  // namespace lil
