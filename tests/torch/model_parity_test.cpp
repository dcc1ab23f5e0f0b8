// Parity with Hugging Face transformers: fixtures made by scripts/make_parity_fixtures.py (random-initialised
// Llama-3 and Qwen2 models with real vocabularies and tokenizers; HF float32 greedy references on CPU).
#include "catch_torch.h"

#include <cmath>

#include <ATen/ATen.h>

#include "core/json_util.h"
#include "runtime/generate.h"
#include "runtime/kv_cache.h"
#include "runtime/loaded_model.h"
#include "parity_support.h"
#include "test_support.h"

using namespace lil;

namespace {

using test::check_against;
using test::kLogprobTolerance;
using test::ParityRecord;
using test::read_parity;
using test::request_for;

}  // namespace

TEST_CASE("HF parity: greedy tokens and log-probabilities, one prompt at a time", "[parity][model]") {
  for (const std::string model_name : {"tiny-llama", "tiny-qwen2"}) {
    INFO("model " << model_name);
    LoadedModel loaded = load_model(test::fixture_model(model_name), at::kFloat, c10::Device(c10::kCPU));
    GenerationOptions options;
    options.eos_ids = loaded.eos_ids;
    for (const auto& ref : read_parity(model_name)) {
      INFO("prompt '" << ref.name << "'");
      // The tokenizer must give HF's ids for the prompt text.
      CHECK(loaded.tokenizer->encode(ref.text) == ref.prompt_ids);
      auto results = generate(*loaded.model, {request_for(ref)}, options);
      check_against(ref, results.at(0));
    }
  }
}

TEST_CASE("HF parity: a batch of prompts of different lengths decodes as each alone", "[parity][model]") {
  for (const std::string model_name : {"tiny-llama", "tiny-qwen2"}) {
    INFO("model " << model_name);
    LoadedModel loaded = load_model(test::fixture_model(model_name), at::kFloat, c10::Device(c10::kCPU));
    GenerationOptions options;
    options.eos_ids = loaded.eos_ids;
    auto refs = read_parity(model_name);
    std::vector<GenerationRequest> batch;
    for (const auto& r : refs) batch.push_back(request_for(r));
    auto results = generate(*loaded.model, batch, options);
    REQUIRE(results.size() == refs.size());
    for (size_t i = 0; i < refs.size(); ++i) check_against(refs[i], results[i]);
  }
}

TEST_CASE("HF parity: log-probabilities of every position of a ~2,000-token prompt", "[parity][model]") {
  for (const std::string model_name : {"tiny-llama", "tiny-qwen2"}) {
    INFO("model " << model_name);
    LoadedModel loaded = load_model(test::fixture_model(model_name), at::kFloat, c10::Device(c10::kCPU));
    for (const auto& ref : read_parity(model_name)) {
      if (ref.prompt_logprobs.empty()) continue;
      REQUIRE(ref.prompt_ids.size() > 2000);
      const auto& cfg = loaded.model->config();
      KVCache cache(make_policy("full", 0, {}, {cfg.num_hidden_layers, cfg.num_key_value_heads,
                                                cfg.num_attention_heads, cfg.head_dim}),
                    CacheShape{1, cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads, cfg.head_dim,
                               static_cast<int64_t>(ref.prompt_ids.size())},
                    at::kFloat, c10::Device(c10::kCPU));
      std::vector<int64_t> ids(ref.prompt_ids.begin(), ref.prompt_ids.end());
      at::Tensor logits = loaded.model->prefill(at::tensor(ids, at::kLong), 0, cache, /*all_logits=*/true);
      at::Tensor logprobs = at::log_softmax(logits.to(at::kDouble), -1);
      double worst = 0;
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        const double got = logprobs[static_cast<int64_t>(i)][ids[i + 1]].item<double>();
        worst = std::max(worst, std::abs(got - ref.prompt_logprobs[i]));
      }
      INFO("largest prompt log-probability difference " << worst);
      CHECK(worst < kLogprobTolerance);
    }
  }
}

TEST_CASE("decode engine: eos stops a row, --ignore-eos does not, max_new_tokens caps", "[engine][model]") {
  LoadedModel loaded = load_model(test::fixture_model("tiny-qwen2"), at::kFloat, c10::Device(c10::kCPU));
  auto refs = read_parity("tiny-qwen2");
  const ParityRecord& ref = refs.at(0);
  REQUIRE(ref.token_ids.size() >= 6);
  GenerationOptions options;
  // Pretend the third greedy token is an end-of-sequence id.
  options.eos_ids = {ref.token_ids[2]};
  GenerationRequest req = request_for(ref);
  auto stopped = generate(*loaded.model, {req}, options).at(0);
  CHECK(stopped.stop_reason == "eos");
  CHECK(stopped.token_ids == std::vector<int32_t>(ref.token_ids.begin(), ref.token_ids.begin() + 3));

  req.ignore_eos = true;
  auto ignored = generate(*loaded.model, {req}, options).at(0);
  CHECK(ignored.stop_reason == "max_new_tokens");
  CHECK(ignored.token_ids == ref.token_ids);

  req.max_new_tokens = 5;
  auto capped = generate(*loaded.model, {req}, options).at(0);
  CHECK(capped.token_ids.size() == 5);
  CHECK(capped.timings.token_times_s.size() == 5);
  CHECK(capped.timings.ttft_s > 0);
  CHECK(capped.timings.jct_s >= capped.timings.ttft_s);
  CHECK(capped.kv.steps == 4);  // the first token comes from the prefill
}

TEST_CASE("decode engine: sampling is reproducible per seed and greedy at low temperature", "[engine][model]") {
  LoadedModel loaded = load_model(test::fixture_model("tiny-llama"), at::kFloat, c10::Device(c10::kCPU));
  auto ref = read_parity("tiny-llama").at(1);
  GenerationRequest req = request_for(ref);
  req.ignore_eos = true;
  GenerationOptions options;
  options.sampling.temperature = 1.0;
  options.sampling.top_p = 0.9;
  req.seed = 11;
  auto a = generate(*loaded.model, {req}, options).at(0);
  auto b = generate(*loaded.model, {req}, options).at(0);
  CHECK(a.token_ids == b.token_ids);
  req.seed = 12;
  auto c = generate(*loaded.model, {req}, options).at(0);
  CHECK(a.token_ids != c.token_ids);
  // Log-probabilities are those of the raw model, not of the sampling distribution.
  for (float lp : a.logprobs) CHECK(lp <= 0.0f);

  options.sampling.temperature = 1e-4;  // effectively greedy (margins in the fixture are >= 2e-3 logits)
  options.sampling.top_p = 1.0;
  auto near_greedy = generate(*loaded.model, {req}, options).at(0);
  CHECK(near_greedy.token_ids == ref.token_ids);
}
