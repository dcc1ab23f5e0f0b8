// The controller registry: names, defaults, and knob validation with errors naming the flag.
#include "catch_torch.h"

#include <map>
#include <string>

#include "core/error.h"
#include "runtime/controller.h"
#include "runtime/controller_guardian_cuda.h"

namespace {

using Knobs = std::map<std::string, std::string>;

// The LilError message of make_controller, or "" when it succeeds.
std::string error_of(const std::string& name, const Knobs& knobs) {
  try {
    lil::make_controller(name, knobs);
  } catch (const lil::LilError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("controllers: the registry lists each controller once, with its knobs", "[controller][registry]") {
  std::vector<std::string> names;
  for (const auto& info : lil::controller_registry()) {
    names.push_back(info.name);
    CHECK_FALSE(info.summary.empty());
    CHECK_FALSE(info.knobs.empty());
    const auto controller = lil::make_controller(info.name, {});
    REQUIRE(controller);
    CHECK(controller->name() == info.name);
    CHECK(controller->check_every() == 250);  // the study's f for every controller by default
  }
  CHECK(names == (std::vector<std::string>{"guardian", "entropy_plateau", "ngram_repetition", "answer_convergence"}));
}

TEST_CASE("controllers: none is no controller", "[controller][registry]") {
  CHECK(lil::make_controller("none", {}) == nullptr);
  CHECK(error_of("none", {{"every", "10"}}) == "--controller-arg every: 'none' has no knob 'every'");
}

TEST_CASE("controllers: knobs are parsed and checked", "[controller][registry]") {
  CHECK(lil::make_controller("guardian", {{"f", "100"}, {"t", "7.5"}})->check_every() == 100);
  CHECK(lil::make_controller("guardian", {{"signal", "text"}, {"codec", "zlib"}, {"level", "9"}})->check_every() == 250);
  CHECK(lil::make_controller("entropy_plateau", {{"rule", "plateau"}, {"epsilon", "0.05"}, {"every", "64"}})
            ->check_every() == 64);
  CHECK(lil::make_controller("ngram_repetition", {{"n", "8"}, {"repeats", "3"}, {"window", "8"}}));
  CHECK(lil::make_controller("answer_convergence", {{"checks", "2"}, {"last_number", "1"}, {"think_end", "</t>"}}));
}

TEST_CASE("controllers: bad names and knobs name the flag and what was expected", "[controller][registry]") {
  CHECK(error_of("guardain", {}) ==
        "--controller: unknown controller 'guardain' (known: none, guardian, entropy_plateau, ngram_repetition, "
        "answer_convergence)");
  CHECK(error_of("guardian", {{"evry", "10"}}) == "--controller-arg evry: 'guardian' has no knob 'evry'");
  CHECK(error_of("guardian", {{"f", "0"}}) == "--controller-arg f: expected a value in [1, 1073741824], got 0");
  CHECK(error_of("guardian", {{"t", "x"}}) == "--controller-arg t: expected a number, got 'x'");
  CHECK(error_of("guardian", {{"signal", "bytes"}}) ==
        "--controller-arg signal: expected one of {text, tokens}, got 'bytes'");
  CHECK(error_of("guardian", {{"min_match", "4"}, {"max_match", "3"}}) ==
        "--controller-arg max_match: must be at least min_match (4), got 3");
  CHECK(error_of("guardian", {{"signal", "text"}, {"min_match", "4"}}) ==
        "--controller-arg min_match: applies only to signal=tokens");
  CHECK(error_of("guardian", {{"codec", "zlib"}}) == "--controller-arg codec: applies only to signal=text");
  CHECK(error_of("guardian", {{"signal", "text"}, {"codec", "zlib"}, {"level", "12"}}) ==
        "--controller-arg level: expected a value in [1, 9], got 12");
  CHECK(error_of("entropy_plateau", {{"epsilon", "0.1"}}) == "--controller-arg epsilon: applies only to rule=plateau");
  CHECK(error_of("entropy_plateau", {{"rule", "plateau"}, {"threshold", "0.1"}}) ==
        "--controller-arg threshold: applies only to rule=below");
  CHECK(error_of("ngram_repetition", {{"n", "32"}, {"window", "16"}}) ==
        "--controller-arg window: must hold at least one n-gram (n = 32), got 16");
  CHECK(error_of("ngram_repetition", {{"repeats", "1"}}) ==
        "--controller-arg repeats: expected a value in [2, 1073741824], got 1");
  CHECK(error_of("answer_convergence", {{"last_number", "yes"}}) ==
        "--controller-arg last_number: expected an integer, got 'yes'");
}

TEST_CASE("controllers: guardian device=cuda needs the CUDA kernels", "[controller][registry]") {
  const std::string error = error_of("guardian", {{"device", "cuda"}});
  if (lil::Lz77CudaMeter::available()) {
    CHECK(error.empty());
  } else {
    CHECK(error.find("--controller-arg device: 'cuda' needs the CUDA kernels") == 0);
  }
}
