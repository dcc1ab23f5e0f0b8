// Budget accounting: a policy that attends more than its budget makes the run an error (BudgetViolation),
// and every registered policy keeps the same selection shape at every decode step (a CUDA graph needs it).
#include "catch_torch.h"

#include <memory>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "runtime/kv_cache.h"

using namespace lil;

namespace {

// Deliberately broken (tests only): claims a budget but attends every cached token.
class OverBudgetPolicy final : public Policy {
 public:
  OverBudgetPolicy(int64_t budget, const PolicyGeometry& g) : Policy(budget, g) {}
  std::string name() const override { return "over_budget"; }
  PolicyKind kind() const override { return PolicyKind::Retention; }
};

// Forwards to a real policy and records the shape of every selection.
class ShapeRecorder final : public Policy {
 public:
  explicit ShapeRecorder(std::unique_ptr<Policy> inner) : Policy(inner->budget(), inner->geometry()), inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  PolicyKind kind() const override { return inner_->kind(); }
  int64_t capacity(int64_t max_context) const override { return inner_->capacity(max_context); }
  void init_layer(LayerCache& c) override { inner_->init_layer(c); }
  at::Tensor prefill_scores(const PrefillView& v) override { return inner_->prefill_scores(v); }
  at::Tensor prefill_protected(const PrefillView& v) override { return inner_->prefill_protected(v); }
  at::Tensor protected_slots(const LayerCache& c, const at::Tensor& p) override { return inner_->protected_slots(c, p); }
  at::Tensor eviction_scores(const LayerCache& c) override { return inner_->eviction_scores(c); }
  Selection select(LayerCache& c, const at::Tensor& q, const at::Tensor& p) override {
    Selection s = inner_->select(c, q, p);
    shapes.push_back(s.valid.sizes().vec());
    return s;
  }
  void after_prefill(LayerCache& c, const PrefillView& v) override { inner_->after_prefill(c, v); }
  void after_write(LayerCache& c, const at::Tensor& s) override { inner_->after_write(c, s); }
  void after_attention(LayerCache& c, const DecodeStepView& s) override { inner_->after_attention(c, s); }

  std::vector<std::vector<int64_t>> shapes;

 private:
  std::unique_ptr<Policy> inner_;
};

// Prefills two rows (prompts of 3 and 30 tokens) and decodes `steps` tokens.
void run(KVCache& cache, int64_t steps) {
  const CacheShape& s = cache.shape();
  const int64_t lens[2] = {3, 30};
  for (int64_t row = 0; row < 2; ++row) {
    cache.store_prefill(0, row, at::randn({s.n_q_heads, lens[row], s.head_dim}), at::randn({s.n_kv_heads, lens[row], s.head_dim}),
                        at::randn({s.n_kv_heads, lens[row], s.head_dim}), 0.5);
  }
  at::Tensor pos = at::tensor({lens[0], lens[1]}, at::kLong);
  for (int64_t i = 0; i < steps; ++i) {
    cache.decode_attention(0, at::randn({2, s.n_q_heads, s.head_dim}), at::randn({2, s.n_kv_heads, s.head_dim}),
                           at::randn({2, s.n_kv_heads, s.head_dim}), pos + i, 0.5);
    cache.end_step();
  }
}

const CacheShape kShape{2, 1, 2, 4, 8, 80};
const PolicyGeometry kGeometry{1, 2, 4, 8};
std::vector<std::vector<bool>> all_active(int64_t steps) { return std::vector<std::vector<bool>>(steps, {true, true}); }

}  // namespace

TEST_CASE("budget: attending more than the budget once the context exceeds it is a BudgetViolation", "[policy][budget]") {
  SECTION("contexts beyond the budget") {
    KVCache cache(std::make_unique<OverBudgetPolicy>(16, kGeometry), kShape, at::kFloat, c10::Device(c10::kCPU));
    run(cache, 20);
    CHECK_THROWS_AS(cache.summarize(all_active(20)), BudgetViolation);
    CHECK_THROWS_WITH(cache.summarize(all_active(20)), Catch::Contains("over_budget") && Catch::Contains("budget of 16"));
  }
  SECTION("while every context fits the budget, the same policy is within it") {
    KVCache cache(std::make_unique<OverBudgetPolicy>(64, kGeometry), kShape, at::kFloat, c10::Device(c10::kCPU));
    run(cache, 20);
    CHECK_NOTHROW(cache.summarize(all_active(20)));
  }
  SECTION("a real sparse policy on the same stream is within its budget") {
    KVCache cache(make_policy("quest", 16, {{"page_size", "4"}}, kGeometry), kShape, at::kFloat, c10::Device(c10::kCPU));
    run(cache, 20);
    const auto stats = cache.summarize(all_active(20));
    CHECK(stats[1].attended_max == 16);
    CHECK(stats[1].resident_max == 50);
  }
}

TEST_CASE("budget: every policy selects the same shape at every decode step", "[policy][budget]") {
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> policies = {
      {"full", {}}, {"sink", {}}, {"h2o", {}}, {"tova", {}}, {"snapkv", {{"window", "4"}, {"interval", "4"}}},
      {"rkv", {{"window", "4"}, {"interval", "4"}}}, {"quest", {{"page_size", "4"}}}, {"infllm", {{"block_size", "4"}}}};
  for (const auto& [name, knobs] : policies) {
    INFO("policy " << name);
    auto recorder = std::make_unique<ShapeRecorder>(make_policy(name, 16, knobs, kGeometry));
    ShapeRecorder* shapes = recorder.get();
    KVCache cache(std::move(recorder), kShape, at::kFloat, c10::Device(c10::kCPU));
    run(cache, 40);  // row 0 grows from 3 to 43 tokens, across the budget of 16
    REQUIRE(shapes->shapes.size() == 40);
    for (const auto& shape : shapes->shapes) CHECK(shape == shapes->shapes.front());
    CHECK_NOTHROW(cache.summarize(all_active(40)));
  }
}
