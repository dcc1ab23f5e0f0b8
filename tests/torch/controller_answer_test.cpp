// Answer convergence on text encoded with the fixture tokenizer, checked after every token (every = 1) so
// the stop step follows from where the answer's closing brace lands.
#include "catch_torch.h"

#include <string>

#include "core/error.h"
#include "runtime/controller_answer.h"
#include "controller_test_support.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace {

const lil::Tokenizer& fixture_tokenizer() {
  static const lil::Tokenizer tokenizer = lil::Tokenizer::from_model_dir(lil::test::fixture_model("tiny-qwen2"));
  return tokenizer;
}

// The number of leading tokens whose decoded text first contains `needle` (-1 if none does).
int64_t first_prefix_containing(const std::vector<int32_t>& ids, const std::string& needle) {
  for (size_t k = 1; k <= ids.size(); ++k) {
    const std::vector<int32_t> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k));
    if (fixture_tokenizer().decode(prefix).find(needle) != std::string::npos) return static_cast<int64_t>(k);
  }
  return -1;
}

lil::AnswerConvergenceOptions every_token(int64_t checks) {
  lil::AnswerConvergenceOptions options;
  options.every = 1;
  options.checks = checks;
  options.extract.last_number_fallback = false;
  return options;
}

const std::string kFiller =
    " Let me double check this by going over every step of the computation once more, slowly and carefully,"
    " because small slips are easy to make and hard to notice when reading quickly through the working.";

}  // namespace

TEST_CASE("answer convergence: stops `checks` checks after the answer appears", "[controller][answer]") {
  const auto ids = fixture_tokenizer().encode("Six times seven. So \\boxed{42}." + kFiller, false);
  const int64_t answered = first_prefix_containing(ids, "\\boxed{42}");
  REQUIRE(answered > 0);
  REQUIRE(static_cast<int64_t>(ids.size()) > answered + 10);
  lil::AnswerConvergenceController controller(every_token(3));
  const auto result = lil::test::drive(controller, {ids}, &fixture_tokenizer());
  CHECK(result.stop_step[0] == answered + 2);
  CHECK(result.checks[0].back().signal == 3);
  CHECK(result.checks[0][static_cast<size_t>(answered - 2)].signal == 0);  // one token before the brace closes
}

TEST_CASE("answer convergence: a changed answer restarts the count", "[controller][answer]") {
  const auto ids = fixture_tokenizer().encode("First guess \\boxed{41}, no: \\boxed{42}." + kFiller, false);
  const int64_t first = first_prefix_containing(ids, "\\boxed{41}");
  const int64_t second = first_prefix_containing(ids, "\\boxed{42}");
  REQUIRE(first > 0);
  // 41 holds for fewer than 20 checks, so only 42 can stop the row, 19 checks after it appears; without the
  // restart the row would stop at first + 19 < second + 19.
  REQUIRE(second - first < 20);
  REQUIRE(static_cast<int64_t>(ids.size()) > second + 20);
  lil::AnswerConvergenceController controller(every_token(20));
  const auto result = lil::test::drive(controller, {ids}, &fixture_tokenizer());
  CHECK(result.stop_step[0] == second + 19);
}

TEST_CASE("answer convergence: which extractions count is configurable", "[controller][answer]") {
  const auto ids = fixture_tokenizer().encode("We get 7 pears." + kFiller, false);
  SECTION("no explicit answer: never stops") {
    lil::AnswerConvergenceController controller(every_token(3));
    const auto result = lil::test::drive(controller, {ids}, &fixture_tokenizer());
    CHECK(result.stop_step[0] == -1);
    for (const auto& c : result.checks[0]) CHECK(c.signal == 0);
  }
  SECTION("last_number: the 7 counts, and holds through the filler") {
    auto options = every_token(3);
    options.extract.last_number_fallback = true;
    lil::AnswerConvergenceController controller(options);
    const int64_t seven = first_prefix_containing(ids, "get 7");
    CHECK(lil::test::drive(controller, {ids}, &fixture_tokenizer()).stop_step[0] == seven + 2);
  }
}

TEST_CASE("answer convergence: needs a tokenizer", "[controller][answer]") {
  lil::AnswerConvergenceController controller(every_token(3));
  CHECK_THROWS_AS(controller.reset(lil::ControllerContext{nullptr, 1, 8, 10}), lil::LilError);
}
