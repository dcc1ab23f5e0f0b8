// Policies on the real fixture models (tests/fixtures/models) through lil::generate: with a budget at least
// the context every policy decodes token for token what `full` decodes; below it every policy runs within
// its budget and eviction policies hold at most the budget.
#include "catch_torch.h"

#include <map>
#include <string>
#include <vector>

#include "runtime/generate.h"
#include "runtime/model.h"
#include "test_support.h"

using namespace lil;

namespace {

using Knobs = std::map<std::string, std::string>;

// Two prompts of different lengths (ids from the Llama-3 vocabulary, valid for both fixtures).
std::vector<GenerationRequest> requests(int64_t max_new_tokens) {
  std::vector<GenerationRequest> out(2);
  out[0].prompt_ids = {128000, 3923, 374, 220, 17, 489, 220, 18, 30, 22559, 25};
  for (int32_t i = 0; i < 27; ++i) out[1].prompt_ids.push_back(1000 + 37 * i);
  for (auto& r : out) {
    r.max_new_tokens = max_new_tokens;
    r.ignore_eos = true;
  }
  return out;
}

std::vector<GenerationResult> run(CausalLM& model, const std::string& policy, int64_t budget, const Knobs& knobs,
                                  int64_t max_new_tokens) {
  GenerationOptions options;
  options.policy = PolicySpec{policy, budget, knobs};
  return generate(model, requests(max_new_tokens), options);
}

const std::vector<std::pair<std::string, Knobs>> kSparse = {
    {"sink", {}}, {"h2o", {}}, {"tova", {}}, {"snapkv", {}}, {"rkv", {}}, {"quest", {}}, {"infllm", {}}};

}  // namespace

TEST_CASE("policies on real models: a budget covering the context decodes exactly what full decodes", "[policy][model]") {
  for (const std::string model_name : {"tiny-llama", "tiny-qwen2"}) {
    INFO("model " << model_name);
    auto model = CausalLM::load(test::fixture_model(model_name), at::kFloat, c10::Device(c10::kCPU));
    const auto reference = run(*model, "full", 0, {}, 30);  // contexts up to 27 + 30 = 57 tokens
    for (const auto& [policy, knobs] : kSparse) {
      INFO("policy " << policy);
      const auto got = run(*model, policy, 64, knobs, 30);
      for (size_t row = 0; row < got.size(); ++row) {
        CHECK(got[row].token_ids == reference[row].token_ids);
        CHECK(got[row].kv.attended_max == reference[row].kv.attended_max);
      }
    }
  }
}

TEST_CASE("policies on real models: below the context every policy keeps its budget", "[policy][model]") {
  const std::vector<std::pair<std::string, Knobs>> small = {
      {"sink", {}},
      {"h2o", {}},
      {"tova", {}},
      {"snapkv", {{"window", "4"}, {"interval", "4"}}},
      {"rkv", {{"window", "4"}, {"interval", "4"}}},
      {"quest", {{"page_size", "4"}}},
      {"infllm", {{"block_size", "4"}}}};
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    INFO("dtype " << c10::toString(dtype));
    auto model = CausalLM::load(test::fixture_model("tiny-llama"), dtype, c10::Device(c10::kCPU));
    for (const auto& [policy, knobs] : small) {
      INFO("policy " << policy);
      const auto got = run(*model, policy, 16, knobs, 24);
      const bool evicts = policy != "quest" && policy != "infllm";
      for (size_t row = 0; row < got.size(); ++row) {
        // The last generated token is never fed back: the context ends at prompt + 23.
        const int64_t final_context = static_cast<int64_t>(requests(24)[row].prompt_ids.size()) + 23;
        CHECK(got[row].token_ids.size() == 24);
        CHECK(got[row].kv.attended_max == 16);
        CHECK(got[row].kv.resident_max == (evicts ? 16 : final_context));
      }
    }
  }
}
