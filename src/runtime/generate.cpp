#include "runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <ATen/ATen.h>

#include "core/error.h"
#include "runtime/model.h"

namespace lil {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
}  // namespace

std::vector<GenerationResult> generate(CausalLM& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationOptions& options, const TokenCallback& on_token) {
  if (requests.empty()) return {};
  validate_sampling(options.sampling);
  const ModelConfig& config = model.config();
  const int64_t rows = static_cast<int64_t>(requests.size());
  int64_t max_context = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    if (r.prompt_ids.empty()) fail_at("request " + std::to_string(i), "empty prompt");
    if (r.max_new_tokens < 1) fail_at("--max-new-tokens", "expected at least 1, got " + std::to_string(r.max_new_tokens));
    for (int32_t id : r.prompt_ids) {
      if (id < 0 || id >= config.vocab_size) {
        fail_at("request " + std::to_string(i), "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                                    std::to_string(config.vocab_size));
      }
    }
    const int64_t context = static_cast<int64_t>(r.prompt_ids.size()) + r.max_new_tokens;
    if (config.max_position_embeddings > 0 && context > config.max_position_embeddings) {
      fail_at("request " + std::to_string(i),
              "prompt (" + std::to_string(r.prompt_ids.size()) + " tokens) + max_new_tokens (" +
                  std::to_string(r.max_new_tokens) + ") exceeds the model's max_position_embeddings (" +
                  std::to_string(config.max_position_embeddings) + ")");
    }
    max_context = std::max(max_context, context);
  }
  PolicyGeometry geometry{config.num_hidden_layers, config.num_key_value_heads, config.num_attention_heads,
                          config.head_dim};
  KVCache cache(make_policy(options.policy.name, options.policy.budget, options.policy.args, geometry),
                CacheShape{rows, config.num_hidden_layers, config.num_key_value_heads, config.num_attention_heads,
                           config.head_dim, max_context},
                model.dtype(), model.device());
  model.reserve_positions(max_context);

  std::vector<std::mt19937_64> rngs;
  for (const auto& r : requests) rngs.emplace_back(r.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto draw = [&](const std::vector<size_t>& which) {
    std::vector<double> u;
    for (size_t i : which) u.push_back(uniform(rngs[i]));
    return u;
  };

  std::vector<GenerationResult> results(requests.size());
  std::vector<std::vector<double>> token_times(requests.size());
  std::vector<bool> active(requests.size(), true);
  auto record = [&](size_t i, int32_t token, float logprob, double t) {
    results[i].token_ids.push_back(token);
    results[i].logprobs.push_back(logprob);
    token_times[i].push_back(t);
    if (on_token) on_token(i, token);
    const bool is_eos = std::find(options.eos_ids.begin(), options.eos_ids.end(), token) != options.eos_ids.end();
    if (is_eos && !requests[i].ignore_eos) {
      results[i].stop_reason = "eos";
      active[i] = false;
    } else if (static_cast<int64_t>(results[i].token_ids.size()) >= requests[i].max_new_tokens) {
      results[i].stop_reason = "max_new_tokens";
      active[i] = false;
    }
  };

  const auto long_opts = at::TensorOptions().dtype(at::kLong);
  const auto start = Clock::now();
  // Prefill, one request after another (all arrive at `start`, so later ones' TTFT includes the wait).
  std::vector<int64_t> last_token(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    std::vector<int64_t> ids(requests[i].prompt_ids.begin(), requests[i].prompt_ids.end());
    at::Tensor prompt = at::tensor(ids, long_opts).to(model.device());
    at::Tensor logits = model.prefill(prompt, static_cast<int64_t>(i), cache);
    TokenChoice choice = choose_tokens(logits, options.sampling, draw({i}));
    const int64_t token = choice.tokens.cpu().item<int64_t>();
    const float logprob = choice.logprobs.cpu().item<float>();
    last_token[i] = token;
    record(i, static_cast<int32_t>(token), logprob, seconds_since(start));
  }

  // Batched decode: every row runs each step (fixed shapes); finished rows are ignored.
  std::vector<std::vector<bool>> active_history;
  std::vector<size_t> all_rows(requests.size());
  for (size_t i = 0; i < all_rows.size(); ++i) all_rows[i] = i;
  while (std::any_of(active.begin(), active.end(), [](bool a) { return a; })) {
    std::vector<int64_t> positions(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      positions[i] = static_cast<int64_t>(requests[i].prompt_ids.size() + results[i].token_ids.size()) - 1;
      // A finished row keeps re-feeding its last position; clamp so it never runs past its cache.
      positions[i] = std::min(positions[i], max_context - 1);
    }
    at::Tensor ids = at::tensor(last_token, long_opts).to(model.device());
    at::Tensor pos = at::tensor(positions, long_opts).to(model.device());
    at::Tensor logits = model.decode(ids, pos, cache);
    active_history.push_back(active);
    cache.end_step();
    TokenChoice choice = choose_tokens(logits, options.sampling, draw(all_rows));
    at::Tensor tokens = choice.tokens.cpu();
    at::Tensor logprobs = choice.logprobs.cpu();
    const double now = seconds_since(start);
    auto tok = tokens.accessor<int64_t, 1>();
    auto lp = logprobs.accessor<float, 1>();
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!active[i]) continue;
      last_token[i] = tok[static_cast<int64_t>(i)];
      record(i, static_cast<int32_t>(last_token[i]), lp[static_cast<int64_t>(i)], now);
    }
  }

  std::vector<KVStepStats> kv = cache.summarize(active_history);
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].timings = timings_from_token_times(token_times[i]);
    results[i].kv = kv[i];
    results[i].kv_allocated_bytes = cache.allocated_bytes();
  }
  return results;
}

}  // namespace lil
