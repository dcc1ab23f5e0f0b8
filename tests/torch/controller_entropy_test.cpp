// Entropy plateau: the per-token entropy, the windowed mean kept on the device, and both rules on
// hand-made logits whose stop step is known exactly.
#include "catch_torch.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "runtime/controller_entropy.h"
#include "controller_test_support.h"

namespace {

constexpr int64_t kVocab = 4;
const double kUniform = std::log(4.0);  // entropy of a uniform distribution over 4 tokens

// Row logits: uniform (entropy ln 4) or one token far ahead of the others (entropy ~3e-7).
at::Tensor uniform_row() { return at::zeros({kVocab}); }
at::Tensor peaked_row() { return at::tensor(std::vector<float>{30, 0, 0, 0}); }

lil::EntropyOptions options_with(int64_t every, int64_t window, lil::EntropyRule rule, int64_t patience) {
  lil::EntropyOptions options;
  options.every = every;
  options.window = window;
  options.rule = rule;
  options.patience = patience;
  return options;
}

}  // namespace

TEST_CASE("entropy: token_entropy in nats, with -inf logits contributing nothing", "[controller][entropy]") {
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor logits = at::stack({uniform_row(), at::tensor(std::vector<float>{0, -inf, -inf, -inf}),
                                       at::tensor(std::vector<float>{0, std::log(3.0f), -inf, -inf})});
  const at::Tensor h = lil::token_entropy(logits);
  REQUIRE(h.scalar_type() == at::kFloat);
  CHECK(h[0].item<float>() == Approx(kUniform));
  CHECK(h[1].item<float>() == 0.0f);
  CHECK(h[2].item<float>() == Approx(-(0.25 * std::log(0.25) + 0.75 * std::log(0.75))));
  CHECK(lil::token_entropy(logits.to(at::kDouble)).scalar_type() == at::kFloat);
}

TEST_CASE("entropy: rule=below stops after `patience` low-entropy windows", "[controller][entropy]") {
  // Row 0 is uncertain for 30 tokens, then confident; row 1 stays uncertain for its 70 tokens.
  const std::vector<std::vector<int32_t>> rows = {std::vector<int32_t>(100, 1), std::vector<int32_t>(70, 2)};
  auto logits_at = [](int64_t step) { return at::stack({step < 30 ? uniform_row() : peaked_row(), uniform_row()}); };

  SECTION("window = every: confident windows end at 40 and 50, so it stops at 50") {
    lil::EntropyPlateauController controller(options_with(10, 10, lil::EntropyRule::Below, 2));
    const auto result = lil::test::drive(controller, rows, nullptr, logits_at);
    CHECK(result.stop_step == (std::vector<int64_t>{50, -1}));
    REQUIRE(result.checks[0].size() == 5);
    CHECK(result.checks[0][2].signal == Approx(kUniform));
    CHECK(result.checks[0][3].signal < 1e-5);
    CHECK_FALSE(result.checks[0][3].fired);
    CHECK(result.checks[0][4].fired);
    CHECK(result.checks[1].size() == 6);  // checks at 10..60; the row ends at 70 before its check
  }
  SECTION("a 20-token window is half uncertain at 40, so it stops at 60") {
    lil::EntropyPlateauController controller(options_with(10, 20, lil::EntropyRule::Below, 2));
    const auto result = lil::test::drive(controller, rows, nullptr, logits_at);
    CHECK(result.stop_step[0] == 60);
    CHECK(result.checks[0][3].signal == Approx(kUniform / 2).epsilon(1e-5));
  }
  SECTION("patience 1 stops at the first confident window") {
    lil::EntropyPlateauController controller(options_with(10, 10, lil::EntropyRule::Below, 1));
    CHECK(lil::test::drive(controller, rows, nullptr, logits_at).stop_step[0] == 40);
  }
}

TEST_CASE("entropy: rule=plateau stops when the mean stops moving", "[controller][entropy]") {
  // Row 0: constant uncertainty; row 1 alternates uncertain and confident blocks of 10 tokens, so its mean
  // moves by ln 4 at every check and it runs to its end.
  const std::vector<std::vector<int32_t>> rows(2, std::vector<int32_t>(80, 3));
  auto logits_at = [](int64_t step) {
    return at::stack({uniform_row(), (step / 10) % 2 == 0 ? uniform_row() : peaked_row()});
  };
  lil::EntropyOptions options = options_with(10, 10, lil::EntropyRule::Plateau, 2);
  options.epsilon = 0.01;
  lil::EntropyPlateauController controller(options);
  const auto result = lil::test::drive(controller, rows, nullptr, logits_at);
  // The first check has nothing to compare with; the second and third do not move: stop at 30.
  CHECK(result.stop_step == (std::vector<int64_t>{30, -1}));
  CHECK(result.checks[1].size() == 7);
}

TEST_CASE("entropy: inactive rows leave their window untouched", "[controller][entropy]") {
  lil::EntropyPlateauController controller(options_with(5, 5, lil::EntropyRule::Below, 1));
  controller.reset(lil::ControllerContext{nullptr, 2, kVocab, 10});
  // Row 1 is active on odd steps only, where its logits are uniform; on the other steps they are peaked.
  for (int64_t step = 0; step < 10; ++step) {
    const bool odd = step % 2 == 1;
    const at::Tensor logits = at::stack({uniform_row(), odd ? uniform_row() : peaked_row()});
    const at::Tensor active = at::tensor(std::vector<int64_t>{1, odd ? 1 : 0}).to(at::kBool);
    controller.observe(at::zeros({2}, at::kLong), logits, active);
  }
  const auto checks = controller.check({true, true}, {std::vector<int32_t>(10, 0), std::vector<int32_t>(5, 0)});
  CHECK(checks[1].signal == Approx(kUniform));
  CHECK_FALSE(checks[1].fired);
  // The engine's count of generated tokens must match what was observed.
  CHECK_THROWS_AS(controller.check({false, true}, {std::vector<int32_t>(10, 0), std::vector<int32_t>(6, 0)}),
                  std::logic_error);
}

TEST_CASE("entropy: on a GPU the windowed means and stop steps equal the CPU run", "[controller][entropy][cuda]") {
  if (!at::hasCUDA()) {
    WARN("skipped: no CUDA device");
    return;
  }
  // Entropies that change every step, so a wrong ring column or count would show.
  const std::vector<std::vector<int32_t>> rows(3, std::vector<int32_t>(400, 1));
  auto logits_at = [](int64_t step) {
    at::Tensor logits = at::zeros({3, kVocab});
    logits[0][0] = static_cast<float>(step % 7);                // varies with a 7-step period
    logits[1][0] = static_cast<float>(step) / 20;               // grows steadily more confident
    logits[2][static_cast<int64_t>(step) % kVocab] = step < 200 ? 0.5f : 25.0f;  // confident after 200
    return logits;
  };
  lil::EntropyPlateauController cpu(options_with(16, 40, lil::EntropyRule::Below, 2));
  lil::EntropyPlateauController gpu(options_with(16, 40, lil::EntropyRule::Below, 2));
  const auto expected = lil::test::drive(cpu, rows, nullptr, logits_at);
  const auto got = lil::test::drive(gpu, rows, nullptr, logits_at, at::Device(at::kCUDA, 0));
  CHECK(expected.stop_step[2] > 200);
  CHECK(got.stop_step == expected.stop_step);
  for (size_t r = 0; r < rows.size(); ++r) {
    REQUIRE(got.checks[r].size() == expected.checks[r].size());
    for (size_t k = 0; k < got.checks[r].size(); ++k) {
      CHECK(got.checks[r][k].signal == Approx(expected.checks[r][k].signal).epsilon(1e-5).margin(1e-6));
    }
  }
}
