// Guardian on the CPU (token-level LZ77, core/lz77.h): hand-made outputs whose stop step is known exactly.
#include "catch_torch.h"

#include <ATen/ATen.h>

#include "core/lz77.h"
#include "runtime/controller_guardian.h"
#include "controller_test_support.h"

namespace {

using lil::test::concat;
using lil::test::drive;
using lil::test::iota_tokens;
using lil::test::repeat;

lil::GuardianOptions guardian_options(int64_t every, double threshold) {
  lil::GuardianOptions options;
  options.every = every;
  options.threshold = threshold;
  options.device = lil::ComputeDevice::Cpu;
  return options;
}

}  // namespace

TEST_CASE("guardian: the study's defaults stop a loop at the first check inside it", "[controller][guardian]") {
  // 250 distinct tokens cost 250 literals (C = 500); the next 250 copy them in one match (C = 503): the
  // growth 3 is below t = 20, so the row stops at 500 tokens.
  const auto looping = repeat(iota_tokens(1000, 250), 4);
  const auto novel = iota_tokens(5000, 1000);
  lil::GuardianController guardian{lil::GuardianOptions{}};
  CHECK(guardian.check_every() == 250);
  const auto result = drive(guardian, {looping, novel});
  CHECK(result.stop_step[0] == 500);
  REQUIRE(result.checks[0].size() == 2);
  CHECK(result.checks[0][0].step == 250);
  CHECK(result.checks[0][0].signal == 500);
  CHECK_FALSE(result.checks[0][0].fired);
  CHECK(result.checks[0][1].signal == 503);
  CHECK(result.checks[0][1].fired);
  // Novel output grows by 500 per check and runs to its end; its last token ends the row before a check.
  CHECK(result.stop_step[1] == -1);
  REQUIRE(result.checks[1].size() == 3);
  CHECK(result.checks[1][2].signal == 1500);
  for (const auto& c : result.checks[1]) CHECK(c.seconds >= 0);
}

TEST_CASE("guardian: the stop step follows f and t", "[controller][guardian]") {
  // 40 novel tokens, then a 10-token passage repeated: checks every 10 tokens see C = 20, 40, 60, 80
  // (20 per block of literals), then one match per block (+3).
  const auto tokens = concat(iota_tokens(0, 40), repeat(iota_tokens(0, 10), 6));
  SECTION("growth 3 < t = 5 stops at 50") {
    lil::GuardianController guardian(guardian_options(10, 5));
    const auto result = drive(guardian, {tokens});
    CHECK(result.stop_step[0] == 50);
    REQUIRE(result.checks[0].size() == 5);
    const std::vector<double> expected = {20, 40, 60, 80, 83};
    for (size_t k = 0; k < expected.size(); ++k) {
      CHECK(result.checks[0][k].step == static_cast<int64_t>(10 * (k + 1)));
      CHECK(result.checks[0][k].signal == expected[k]);
    }
  }
  SECTION("growth equal to t does not stop (the rule is strict)") {
    lil::GuardianController guardian(guardian_options(10, 3));
    const auto result = drive(guardian, {tokens});
    CHECK(result.stop_step[0] == -1);
    CHECK(result.checks[0].back().signal == 80 + 5 * 3);
  }
  SECTION("t just above the growth stops at 50") {
    lil::GuardianController guardian(guardian_options(10, 3.5));
    CHECK(drive(guardian, {tokens}).stop_step[0] == 50);
  }
  SECTION("f = 20 first sees the loop at 60: its block 40..60 is two matches") {
    // No earlier start matches all 20 tokens (the passage is followed by 10, not 0, at its first copy).
    lil::GuardianController guardian(guardian_options(20, 7));
    const auto result = drive(guardian, {tokens});
    CHECK(result.stop_step[0] == 60);
    CHECK(result.checks[0].back().signal == 80 + 2 * 3);
  }
  SECTION("the first check compares C with 0") {
    lil::GuardianController guardian(guardian_options(10, 21));
    const auto result = drive(guardian, {tokens});
    CHECK(result.stop_step[0] == 10);
    CHECK(result.checks[0][0].signal == 20);
  }
}

TEST_CASE("guardian: each check parses the tokens since the row's previous check as one block",
          "[controller][guardian]") {
  // The controller's C equals the block parse of the core reference with the check interval as block size.
  std::vector<int32_t> tokens;
  for (int i = 0; i < 3000; ++i) tokens.push_back((i * 7919) % 113 < 60 ? i % 97 : (i * 31) % 1009);
  lil::GuardianController guardian(guardian_options(250, -1e9));  // a threshold that never fires
  const auto result = drive(guardian, {tokens});
  REQUIRE(result.checks[0].size() == 11);  // the 12th would be at 3000, where the row has already ended
  for (const auto& c : result.checks[0]) {
    const std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + c.step);
    CHECK(c.signal == lil::lz77_cost(lil::lz77_parse(prefix, {}, 250), {}));
  }
}

TEST_CASE("guardian: rows are independent and reset starts over", "[controller][guardian]") {
  const auto looping = concat(iota_tokens(0, 40), repeat(iota_tokens(0, 10), 6));
  const auto novel = iota_tokens(100, 100);
  lil::GuardianController guardian(guardian_options(10, 5));
  const auto first = drive(guardian, {novel, looping, novel});
  CHECK(first.stop_step == (std::vector<int64_t>{-1, 50, -1}));
  const auto again = drive(guardian, {looping});
  CHECK(again.stop_step == (std::vector<int64_t>{50}));
  REQUIRE(again.checks[0].size() == first.checks[1].size());
  for (size_t k = 0; k < again.checks[0].size(); ++k) CHECK(again.checks[0][k].signal == first.checks[1][k].signal);
}

TEST_CASE("guardian: a row skipped at a check is parsed in one block at its next check", "[controller][guardian]") {
  const auto tokens = concat(iota_tokens(0, 40), repeat(iota_tokens(0, 10), 6));
  lil::GuardianController guardian(guardian_options(10, 5));
  guardian.reset(lil::ControllerContext{nullptr, 1, 8, 100});
  auto prefix = [&](int64_t n) { return std::vector<int32_t>(tokens.begin(), tokens.begin() + n); };
  CHECK(guardian.check({true}, {prefix(10)})[0].signal == 20);
  const auto skipped = guardian.check({false}, {prefix(20)});
  CHECK_FALSE(skipped[0].fired);
  const auto later = guardian.check({true}, {prefix(60)});
  CHECK(later[0].step == 60);
  CHECK(later[0].signal == 40 * 2 + 2 * 3);  // blocks 0..10 and 10..60: 40 literals, two 10-token matches
  CHECK_THROWS_AS(guardian.check({true}, {prefix(30)}), std::logic_error);  // the output cannot shrink
}

TEST_CASE("guardian: device=auto parses on the CPU for a CPU model", "[controller][guardian]") {
  lil::GuardianOptions options = guardian_options(10, 5);
  options.device = lil::ComputeDevice::Auto;
  lil::GuardianController guardian(options);
  const auto result = drive(guardian, {concat(iota_tokens(0, 40), repeat(iota_tokens(0, 10), 6))});
  CHECK_FALSE(guardian.on_gpu());
  CHECK(result.stop_step[0] == 50);
}
