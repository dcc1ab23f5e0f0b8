// The policy registry: every policy listed once with its paper and knobs; make_policy validates names,
// budgets and knobs with LilErrors that name the flag.
#include "catch_torch.h"

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "policies/policy.h"

using namespace lil;

namespace {

using Knobs = std::map<std::string, std::string>;
const PolicyGeometry kGeometry{2, 2, 4, 16};

// The LilError message of make_policy, or "" when it succeeds.
std::string error_of(const std::string& name, int64_t budget, const Knobs& knobs = {}) {
  try {
    make_policy(name, budget, knobs, kGeometry);
  } catch (const LilError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("policy registry: every policy once, with a summary, and its defaults valid at budget 128", "[policy][registry]") {
  std::vector<std::string> names;
  for (const auto& info : policy_registry()) {
    names.push_back(info.name);
    CHECK_FALSE(info.summary.empty());
    const auto policy = make_policy(info.name, 128, {}, kGeometry);
    REQUIRE(policy);
    CHECK(policy->name() == info.name);
  }
  CHECK(names == std::vector<std::string>{"full", "sink", "h2o", "tova", "snapkv", "rkv", "quest", "infllm"});
  CHECK(make_policy("h2o", 128, {}, kGeometry)->kind() == PolicyKind::Eviction);
  CHECK(make_policy("quest", 128, {}, kGeometry)->kind() == PolicyKind::Retention);
  CHECK(make_policy("infllm", 128, {}, kGeometry)->kind() == PolicyKind::Retention);
  CHECK(make_policy("quest", 128, {}, kGeometry)->capacity(5000) == 5000);
  CHECK(make_policy("snapkv", 128, {}, kGeometry)->capacity(5000) == 128);
}

TEST_CASE("policy registry: unknown names and budgets below one token are errors naming the flag", "[policy][registry]") {
  CHECK_THAT(error_of("streaming", 128), Catch::StartsWith("--policy: unknown policy 'streaming'") && Catch::Contains("quest"));
  for (const std::string name : {"sink", "h2o", "tova", "snapkv", "rkv", "quest", "infllm"}) {
    INFO(name);
    CHECK_THAT(error_of(name, 0), Catch::StartsWith("--budget:"));
    CHECK_THAT(error_of(name, -4), Catch::StartsWith("--budget:"));
    CHECK_THAT(error_of(name, 128, {{"no_such_knob", "1"}}), Catch::StartsWith("--policy-arg no_such_knob:"));
  }
  CHECK(error_of("full", 0).empty());
}

TEST_CASE("policy registry: windows larger than the budget and malformed knobs are rejected", "[policy][registry]") {
  struct Bad {
    std::string policy;
    int64_t budget;
    Knobs knobs;
    std::string flag;
  };
  const std::vector<Bad> cases = {
      {"sink", 8, {{"n_sink", "8"}}, "--policy-arg n_sink:"},
      {"sink", 128, {{"n_sink", "-1"}}, "--policy-arg n_sink:"},
      {"h2o", 128, {{"recent", "128"}}, "--policy-arg recent:"},
      {"h2o", 128, {{"recent", "sixty"}}, "--policy-arg recent:"},
      {"h2o", 128, {{"recent", "6.5"}}, "--policy-arg recent:"},
      {"snapkv", 128, {{"window", "200"}}, "--policy-arg window:"},
      {"snapkv", 128, {{"window", "100"}}, "--policy-arg interval:"},
      {"snapkv", 128, {{"window", "0"}}, "--policy-arg window:"},
      {"snapkv", 128, {{"kernel", "4"}}, "--policy-arg kernel:"},
      {"snapkv", 128, {{"pooling", "median"}}, "--policy-arg pooling:"},
      {"snapkv", 48, {}, "--policy-arg interval:"},
      {"rkv", 128, {{"lambda", "1.5"}}, "--policy-arg lambda:"},
      {"rkv", 128, {{"threshold", "x"}}, "--policy-arg threshold:"},
      {"rkv", 128, {{"interval", "0"}}, "--policy-arg interval:"},
      {"quest", 128, {{"page_size", "48"}}, "--policy-arg page_size:"},
      {"quest", 128, {{"page_size", "256"}}, "--policy-arg page_size:"},
      {"quest", 100, {}, "--policy-arg page_size:"},
      {"quest", 128, {{"page_size", "0"}}, "--policy-arg page_size:"},
      {"infllm", 128, {{"local", "128"}}, "--policy-arg local:"},
      {"infllm", 128, {{"reps", "64"}}, "--policy-arg reps:"},
      {"infllm", 46, {}, "--policy-arg local:"},  // 4 + 11 + 32 > 46
      {"tova", 128, {{"window", "4"}}, "--policy-arg window:"},
  };
  for (const auto& bad : cases) {
    INFO(bad.policy << " budget " << bad.budget);
    CHECK_THAT(error_of(bad.policy, bad.budget, bad.knobs), Catch::StartsWith(bad.flag));
  }
  // The boundaries themselves are accepted.
  CHECK(error_of("sink", 8, {{"n_sink", "7"}}).empty());
  CHECK(error_of("h2o", 128, {{"recent", "127"}}).empty());
  CHECK(error_of("snapkv", 64, {}).empty());
  CHECK(error_of("quest", 48, {{"page_size", "48"}}).empty());
  CHECK(error_of("infllm", 47, {}).empty());  // 4 + 11 + 32 <= 47
}
