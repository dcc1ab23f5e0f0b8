// N-gram repetition: the count, checked against a brute-force count, and stop steps known exactly.
#include "catch_torch.h"

#include <algorithm>
#include <map>
#include <random>

#include "runtime/controller_ngram.h"
#include "controller_test_support.h"

namespace {

int64_t brute_force_count(const std::vector<int32_t>& tokens, size_t begin, size_t end, size_t n) {
  std::map<std::vector<int32_t>, int64_t> counts;
  int64_t best = 0;
  for (size_t s = begin; s + n <= end; ++s) {
    best = std::max(best, ++counts[std::vector<int32_t>(tokens.begin() + static_cast<std::ptrdiff_t>(s),
                                                        tokens.begin() + static_cast<std::ptrdiff_t>(s + n))]);
  }
  return best;
}

lil::NgramOptions ngram_options(int64_t every, int64_t n, int64_t repeats, int64_t window) {
  lil::NgramOptions options;
  options.every = every;
  options.n = n;
  options.repeats = repeats;
  options.window = window;
  return options;
}

}  // namespace

TEST_CASE("ngram: most_repeated_ngram_count on hand-made sequences", "[controller][ngram]") {
  const std::vector<int32_t> abc = {1, 2, 3, 1, 2, 3, 1, 2, 3};
  CHECK(lil::most_repeated_ngram_count(abc, 0, abc.size(), 3) == 3);  // 1 2 3 at 0, 3, 6
  CHECK(lil::most_repeated_ngram_count(abc, 0, abc.size(), 1) == 3);
  CHECK(lil::most_repeated_ngram_count(abc, 1, abc.size(), 3) == 2);  // 1 2 3 only at 3, 6 inside [1, 9)
  CHECK(lil::most_repeated_ngram_count(abc, 0, 8, 3) == 2);           // 1 2 3 at 6 does not fit in [0, 8)
  CHECK(lil::most_repeated_ngram_count(abc, 0, abc.size(), 9) == 1);
  CHECK(lil::most_repeated_ngram_count(abc, 0, abc.size(), 10) == 0);
  const std::vector<int32_t> run(5, 5);
  CHECK(lil::most_repeated_ngram_count(run, 0, run.size(), 2) == 4);  // occurrences may overlap
  const std::vector<int32_t> signs = {-1, 0, -1, 0, 2147483647, -1, 0};
  CHECK(lil::most_repeated_ngram_count(signs, 0, signs.size(), 2) == 3);
}

TEST_CASE("ngram: the count equals a brute-force count on random sequences", "[controller][ngram]") {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t length = 1 + rng() % 300;
    const auto vocabulary = static_cast<int32_t>(1 + rng() % 6);
    std::vector<int32_t> tokens(length);
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocabulary));
    const size_t n = 1 + rng() % 8;
    const size_t begin = rng() % length;
    INFO("trial " << trial);
    CHECK(lil::most_repeated_ngram_count(tokens, begin, length, n) == brute_force_count(tokens, begin, length, n));
  }
}

TEST_CASE("ngram: a loop stops the row at the first check whose window holds `repeats` copies",
          "[controller][ngram]") {
  using lil::test::concat;
  using lil::test::iota_tokens;
  using lil::test::repeat;
  // 28 novel tokens, then the 4-token loop 100 101 102 103. The trigram 100 101 102 starts at 28, 32, 36,
  // 40, ...; an n-gram counts when it lies wholly inside the window, so at 40 the window [20, 40) holds the
  // starts 28, 32 and 36.
  const auto looping = concat(iota_tokens(0, 28), repeat(iota_tokens(100, 4), 20));
  const auto novel = iota_tokens(1000, 110);
  SECTION("repeats = 3") {
    lil::NgramRepetitionController controller(ngram_options(10, 3, 3, 20));
    const auto result = lil::test::drive(controller, {looping, novel});
    CHECK(result.stop_step == (std::vector<int64_t>{40, -1}));
    REQUIRE(result.checks[0].size() == 4);
    CHECK(result.checks[0][2].signal == 1);
    CHECK(result.checks[0][3].signal == 3);
    CHECK(result.checks[1].back().signal == 1);
  }
  SECTION("repeats = 6 in a 24-token window: starts 36, 40, ..., 56 at the check at 60") {
    lil::NgramRepetitionController controller(ngram_options(10, 3, 6, 24));
    const auto result = lil::test::drive(controller, {looping});
    CHECK(result.stop_step[0] == 60);
    CHECK(result.checks[0][4].signal == 5);  // at 50 the window [26, 50) holds 20 loop trigrams, 5 of each
  }
  SECTION("a 20-token window holds at most 5 copies of a 4-token loop's trigram: repeats = 6 never stops") {
    lil::NgramRepetitionController controller(ngram_options(10, 3, 6, 20));
    CHECK(lil::test::drive(controller, {looping}).stop_step[0] == -1);
  }
}
