#pragma once
// Hugging Face parity records (tests/fixtures/parity/<model>.json, made by scripts/make_parity_fixtures.py)
// and the checks every parity test applies to them.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "catch_torch.h"
#include "core/json_util.h"
#include "runtime/generate.h"
#include "test_support.h"

namespace lil::test {

constexpr double kLogprobTolerance = 1e-3;  // float32, as the foundation issue requires

struct ParityRecord {
  std::string name, text;
  std::vector<int32_t> prompt_ids, token_ids;
  std::vector<double> logprobs, prompt_logprobs;
  int64_t max_new_tokens = 0;
  double min_router_gap = -1;  // MoE fixtures: smallest k-th vs (k+1)-th router-logit gap in HF's run
};

inline std::vector<ParityRecord> read_parity(const std::string& model) {
  json doc = read_json_file(parity_file(model));
  std::vector<ParityRecord> out;
  for (const auto& r : doc.at("records")) {
    ParityRecord p;
    p.name = r.at("name").get<std::string>();
    p.text = r.at("text").get<std::string>();
    p.prompt_ids = r.at("prompt_ids").get<std::vector<int32_t>>();
    p.token_ids = r.at("token_ids").get<std::vector<int32_t>>();
    p.logprobs = r.at("logprobs").get<std::vector<double>>();
    if (r.contains("prompt_logprobs")) p.prompt_logprobs = r.at("prompt_logprobs").get<std::vector<double>>();
    if (r.contains("min_router_gap")) p.min_router_gap = r.at("min_router_gap").get<double>();
    p.max_new_tokens = r.at("max_new_tokens").get<int64_t>();
    out.push_back(std::move(p));
  }
  return out;
}

// Greedy tokens equal, every log-probability within kLogprobTolerance.
inline void check_against(const ParityRecord& ref, const GenerationResult& got) {
  INFO("prompt '" << ref.name << "'" << (ref.min_router_gap >= 0 ? ", HF's smallest router gap " + std::to_string(ref.min_router_gap) : ""));
  REQUIRE(got.token_ids == ref.token_ids);
  REQUIRE(got.logprobs.size() == ref.logprobs.size());
  double worst = 0;
  for (size_t t = 0; t < ref.logprobs.size(); ++t) worst = std::max(worst, std::abs(got.logprobs[t] - ref.logprobs[t]));
  INFO("largest log-probability difference " << worst);
  CHECK(worst < kLogprobTolerance);
}

inline GenerationRequest request_for(const ParityRecord& r) {
  GenerationRequest req;
  req.prompt_ids = r.prompt_ids;
  req.max_new_tokens = r.max_new_tokens;
  return req;
}

}  // namespace lil::test
