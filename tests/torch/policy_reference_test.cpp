// Every policy against its brute-force reference (tests/torch/policy_reference.h): the same random q/k/v
// stream goes through KVCache (dense prefill via store_prefill, then decode_attention) and through the
// reference, and every decode step's output and set of tokens in memory must agree. KVCache runs in float64
// here (policy scores follow the model dtype up to float64), so every discrete choice is made on the same
// values as the float64 reference; the output tolerance is 1e-9 (observed differences are ~1e-15).
#include "catch_torch.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "policy_reference.h"
#include "runtime/kv_cache.h"

using namespace lil;

namespace {

using Knobs = std::map<std::string, std::string>;
constexpr double kOutputTolerance = 1e-9;

struct Scenario {
  std::string policy;
  int64_t budget = 0;
  Knobs knobs;
  std::vector<int64_t> prompt_lens;  // one per row
  int64_t steps = 0;
  int64_t n_kv = 2;
  int64_t group = 2;
  int64_t head_dim = 8;
  uint64_t seed = 1;
};

std::vector<double> vec(const at::Tensor& t) {  // 1-D double tensor -> vector
  at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Keys with some near-duplicates (R-KV's redundancy term needs cosine similarities above its threshold).
at::Tensor random_keys(std::vector<int64_t> shape, int64_t token_dim) {
  at::Tensor k = at::randn(shape, at::kDouble);
  at::Tensor earlier = k.roll(3, token_dim);
  at::Tensor repeat = at::rand(shape, at::kDouble).select(-1, 0).unsqueeze(-1).lt(0.25);
  return at::where(repeat, earlier + 0.2 * at::randn(shape, at::kDouble), k);
}

std::vector<int64_t> resident_positions(KVCache& cache, int64_t row, int64_t head) {
  at::Tensor pos = cache.layer(0).positions[row][head];
  std::vector<int64_t> out;
  for (int64_t i = 0; i < pos.size(0); ++i) {
    if (pos[i].item<int64_t>() >= 0) out.push_back(pos[i].item<int64_t>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Outcome {
  int64_t sparse_steps = 0;     // (row, head, step)s where fewer tokens were attended than the context held
  int64_t evictions_seen = 0;   // (row, head, step)s where the reference's memory was below its context
};

Outcome run_against_reference(const Scenario& s) {
  INFO("policy " << s.policy << ", budget " << s.budget << ", G " << s.group << ", seed " << s.seed);
  at::manual_seed(s.seed);
  const int64_t rows = static_cast<int64_t>(s.prompt_lens.size());
  const int64_t n_q = s.n_kv * s.group;
  const int64_t max_context = *std::max_element(s.prompt_lens.begin(), s.prompt_lens.end()) + s.steps;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
  const PolicyGeometry geometry{1, s.n_kv, n_q, s.head_dim};
  KVCache cache(make_policy(s.policy, s.budget, s.knobs, geometry),
                CacheShape{rows, 1, s.n_kv, n_q, s.head_dim, max_context}, at::kDouble, c10::Device(c10::kCPU));
  const bool evicts = cache.policy().kind() == PolicyKind::Eviction;
  const test::HeadShape head_shape{s.group, s.head_dim, scale, max_context};
  std::vector<std::vector<std::unique_ptr<test::HeadReference>>> refs(static_cast<size_t>(rows));

  for (int64_t row = 0; row < rows; ++row) {
    const int64_t prompt_len = s.prompt_lens[static_cast<size_t>(row)];
    at::Tensor q = 2.0 * at::randn({n_q, prompt_len, s.head_dim}, at::kDouble);
    at::Tensor k = random_keys({s.n_kv, prompt_len, s.head_dim}, 1);
    at::Tensor v = at::randn({s.n_kv, prompt_len, s.head_dim}, at::kDouble);
    cache.store_prefill(0, row, q, k, v, scale);
    for (int64_t h = 0; h < s.n_kv; ++h) {
      std::vector<std::vector<test::Vec>> queries(static_cast<size_t>(s.group));
      std::vector<test::Vec> keys, values;
      for (int64_t t = 0; t < prompt_len; ++t) {
        for (int64_t g = 0; g < s.group; ++g) queries[static_cast<size_t>(g)].push_back(vec(q[h * s.group + g][t]));
        keys.push_back(vec(k[h][t]));
        values.push_back(vec(v[h][t]));
      }
      refs[static_cast<size_t>(row)].push_back(test::make_reference(s.policy, s.budget, s.knobs, head_shape));
      refs[static_cast<size_t>(row)].back()->prefill(queries, keys, values);
      INFO("after the prefill of row " << row << ", KV head " << h);
      REQUIRE(resident_positions(cache, row, h) == refs[static_cast<size_t>(row)].back()->resident());
    }
  }

  Outcome outcome;
  at::Tensor positions = at::tensor(s.prompt_lens, at::kLong);
  for (int64_t step = 0; step < s.steps; ++step) {
    at::Tensor q = 2.0 * at::randn({rows, n_q, s.head_dim}, at::kDouble);
    at::Tensor k = random_keys({rows, s.n_kv, s.head_dim}, 0);
    at::Tensor v = at::randn({rows, s.n_kv, s.head_dim}, at::kDouble);
    at::Tensor out = cache.decode_attention(0, q, k, v, positions, scale);
    cache.end_step();
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t h = 0; h < s.n_kv; ++h) {
        test::HeadReference& ref = *refs[static_cast<size_t>(row)][static_cast<size_t>(h)];
        std::vector<test::Vec> queries;
        for (int64_t g = 0; g < s.group; ++g) queries.push_back(vec(q[row][h * s.group + g]));
        const std::vector<test::Vec> expected = ref.decode(queries, vec(k[row][h]), vec(v[row][h]));
        double worst = 0;
        for (int64_t g = 0; g < s.group; ++g) {
          const test::Vec got = vec(out[row][h * s.group + g]);
          for (size_t d = 0; d < got.size(); ++d) {
            worst = std::max(worst, std::abs(got[d] - expected[static_cast<size_t>(g)][d]));
          }
        }
        INFO("decode step " << step << ", row " << row << ", KV head " << h << ", context " << ref.context());
        REQUIRE(worst < kOutputTolerance);
        if (evicts) REQUIRE(resident_positions(cache, row, h) == ref.resident());
        REQUIRE(static_cast<int64_t>(ref.attended().size()) <= s.budget);
        if (static_cast<int64_t>(ref.attended().size()) < ref.context()) ++outcome.sparse_steps;
        if (static_cast<int64_t>(ref.resident().size()) < ref.context()) ++outcome.evictions_seen;
      }
    }
    positions = positions + 1;
  }

  // Memory: eviction caches hold `budget` slots, retention caches the whole context; the counts agree.
  std::vector<std::vector<bool>> active(static_cast<size_t>(s.steps), std::vector<bool>(static_cast<size_t>(rows), true));
  const auto stats = cache.summarize(active);
  const int64_t slot_bytes = rows * s.n_kv * s.head_dim * 2 * static_cast<int64_t>(sizeof(double));
  const int64_t expected_slots = evicts ? std::min(s.budget, max_context) : max_context;
  CHECK(cache.allocated_bytes() == expected_slots * slot_bytes);
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t final_context = s.prompt_lens[static_cast<size_t>(row)] + s.steps;
    CHECK(stats[static_cast<size_t>(row)].attended_max <= s.budget);
    CHECK(stats[static_cast<size_t>(row)].resident_max == (evicts ? std::min(s.budget, final_context) : final_context));
  }
  return outcome;
}

// Contexts well beyond the budget, rows with different prompt lengths (one shorter than the budget).
Scenario long_run(const std::string& policy, int64_t budget, Knobs knobs = {}) {
  Scenario s;
  s.policy = policy;
  s.budget = budget;
  s.knobs = std::move(knobs);
  s.prompt_lens = {3 * budget, budget / 2, budget + 5};
  s.steps = 3 * budget;
  return s;
}

}  // namespace

TEST_CASE("policies: full matches its reference", "[policy][reference]") {
  Scenario s;
  s.policy = "full";
  s.prompt_lens = {7, 20};
  s.steps = 30;
  s.budget = 1 << 20;
  run_against_reference(s);
}

TEST_CASE("policies: every sparse policy matches its reference far beyond the budget", "[policy][reference]") {
  const std::vector<std::pair<std::string, Knobs>> cases = {
      {"sink", {}},
      {"sink", {{"n_sink", "0"}}},
      {"h2o", {}},
      {"h2o", {{"recent", "3"}}},
      {"tova", {}},
      {"snapkv", {{"window", "8"}, {"interval", "8"}}},
      {"snapkv", {{"window", "6"}, {"interval", "5"}, {"kernel", "3"}, {"pooling", "max"}}},
      {"rkv", {}},
      {"rkv", {{"window", "4"}, {"interval", "7"}, {"lambda", "0.5"}, {"threshold", "0.3"}, {"kernel", "5"}}},
      {"quest", {{"page_size", "8"}}},
      {"quest", {{"page_size", "5"}}},
      {"infllm", {{"block_size", "8"}}},
      {"infllm", {{"n_sink", "2"}, {"local", "5"}, {"block_size", "6"}, {"reps", "2"}}},
  };
  for (const auto& [policy, knobs] : cases) {
    std::string label = policy;
    for (const auto& [k, v] : knobs) label += " " + k + "=" + v;
    SECTION(label) {
      const Outcome outcome = run_against_reference(long_run(policy, 40, knobs));
      // The comparison only means something if the policy really selected or evicted.
      CHECK(outcome.sparse_steps > 0);
      if (policy != "quest" && policy != "infllm") CHECK(outcome.evictions_seen > 0);
    }
  }
}

TEST_CASE("policies: references hold with one query head per KV head and a wider head", "[policy][reference]") {
  for (const std::string policy : {"sink", "h2o", "tova", "snapkv", "rkv", "quest", "infllm"}) {
    SECTION(policy) {
      Scenario s = long_run(policy, 64, policy == "snapkv" ? Knobs{{"window", "16"}} : Knobs{});
      s.group = 1;
      s.n_kv = 3;
      s.head_dim = 16;
      s.prompt_lens = {100, 10};
      s.steps = 120;
      s.seed = 7;
      CHECK(run_against_reference(s).sparse_steps > 0);
    }
  }
}

TEST_CASE("policies: with contexts within the budget every policy attends everything", "[policy][reference]") {
  for (const std::string policy : {"sink", "h2o", "tova", "snapkv", "rkv", "quest", "infllm"}) {
    SECTION(policy) {
      Scenario s;
      s.policy = policy;
      s.budget = 64;
      s.prompt_lens = {5, 30};
      s.steps = 34;
      s.group = 4;
      s.seed = 3;
      const Outcome outcome = run_against_reference(s);
      CHECK(outcome.sparse_steps == 0);
      CHECK(outcome.evictions_seen == 0);
    }
  }
}
