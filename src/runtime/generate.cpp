#include "runtime/generate.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <ATen/ATen.h>

#include "core/error.h"
#include "runtime/decode_graph.h"
#include "runtime/model.h"

namespace lil {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Each row is in one of these modes; the decode loop feeds every row every step (fixed shapes).
enum class RowMode { Generating, ForcingPrompt, Answering, Done };

void validate_requests(const ModelConfig& config, const std::vector<GenerationRequest>& requests,
                       const GenerationOptions& options, int64_t& max_context) {
  validate_sampling(options.sampling);
  const int64_t forced = options.on_stop == OnStop::ForceAnswer && options.controller
                             ? static_cast<int64_t>(std::max(options.force_answer_ids.size(),
                                                             options.force_answer_ids_in_think.size())) +
                                   options.force_answer_max_tokens
                             : 0;
  max_context = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    const std::string where = "request " + std::to_string(i);
    if (r.prompt_ids.empty()) fail_at(where, "empty prompt");
    if (r.max_new_tokens < 1) fail_at("--max-new-tokens", "expected at least 1, got " + std::to_string(r.max_new_tokens));
    for (int32_t id : r.prompt_ids) {
      if (id < 0 || id >= config.vocab_size) {
        fail_at(where, "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(config.vocab_size));
      }
    }
    const int64_t context = static_cast<int64_t>(r.prompt_ids.size()) + r.max_new_tokens + forced;
    if (config.max_position_embeddings > 0 && context > config.max_position_embeddings) {
      fail_at(where, "prompt (" + std::to_string(r.prompt_ids.size()) + " tokens) + max_new_tokens (" +
                         std::to_string(r.max_new_tokens) + ") exceeds the model's max_position_embeddings (" +
                         std::to_string(config.max_position_embeddings) + ")");
    }
    max_context = std::max(max_context, context);
  }
}
}  // namespace

std::vector<GenerationResult> generate(CausalLM& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationOptions& options, const TokenCallback& on_token) {
  if (requests.empty()) return {};
  const ModelConfig& config = model.config();
  int64_t max_context = 0;
  validate_requests(config, requests, options, max_context);
  const size_t rows = requests.size();
  PolicyGeometry geometry{config.num_hidden_layers, config.num_key_value_heads, config.num_attention_heads,
                          config.head_dim};
  KVCache cache(make_policy(options.policy.name, options.policy.budget, options.policy.args, geometry),
                CacheShape{static_cast<int64_t>(rows), config.num_hidden_layers, config.num_key_value_heads,
                           config.num_attention_heads, config.head_dim, max_context},
                model.dtype(), model.device());
  model.reserve_positions(max_context);
  StopController* controller = options.controller;
  if (controller) {
    controller->reset(ControllerContext{options.tokenizer, static_cast<int64_t>(rows), config.vocab_size,
                                        std::max_element(requests.begin(), requests.end(), [](const auto& a, const auto& b) {
                                          return a.max_new_tokens < b.max_new_tokens;
                                        })->max_new_tokens});
  }

  std::vector<std::mt19937_64> rngs;
  for (const auto& r : requests) rngs.emplace_back(r.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> draws(rows);

  std::vector<GenerationResult> results(rows);
  std::vector<std::vector<double>> token_times(rows);
  std::vector<RowMode> mode(rows, RowMode::Generating);
  std::vector<int64_t> context_len(rows);   // tokens in the row's context (prompt + fed tokens)
  std::vector<int64_t> next_input(rows);    // token fed at the next decode step
  std::vector<size_t> forced_fed(rows, 0);  // forced-answer tokens already fed
  std::vector<const std::vector<int32_t>*> forced(rows, nullptr);
  auto think_closed = [&](const std::vector<int32_t>& ids) {
    const auto& marker = options.think_end_ids;
    return !marker.empty() && std::search(ids.begin(), ids.end(), marker.begin(), marker.end()) != ids.end();
  };
  std::vector<double> end_time(rows, 0.0);
  auto is_eos = [&](int64_t token) {
    return std::find(options.eos_ids.begin(), options.eos_ids.end(), token) != options.eos_ids.end();
  };

  // Handles the token a row produced at this step, according to its mode.
  auto accept = [&](size_t i, int64_t token, float logprob, double now) {
    GenerationResult& res = results[i];
    switch (mode[i]) {
      case RowMode::Generating: {
        res.token_ids.push_back(static_cast<int32_t>(token));
        res.logprobs.push_back(logprob);
        token_times[i].push_back(now);
        end_time[i] = now;
        if (on_token) on_token(i, static_cast<int32_t>(token));
        next_input[i] = token;
        if (is_eos(token) && !requests[i].ignore_eos) {
          res.stop_reason = "eos";
          mode[i] = RowMode::Done;
        } else if (static_cast<int64_t>(res.token_ids.size()) >= requests[i].max_new_tokens) {
          res.stop_reason = requests[i].limit_reason;
          mode[i] = RowMode::Done;
        }
        break;
      }
      case RowMode::ForcingPrompt:
        break;  // the model's guess while the forced prompt is fed is discarded
      case RowMode::Answering: {
        res.answer_ids.push_back(static_cast<int32_t>(token));
        end_time[i] = now;
        next_input[i] = token;
        if (is_eos(token) || static_cast<int64_t>(res.answer_ids.size()) >= options.force_answer_max_tokens) {
          mode[i] = RowMode::Done;
        }
        break;
      }
      case RowMode::Done: break;
    }
  };

  // Asks the controller about rows that reached a multiple of its check interval.
  auto run_checks = [&]() {
    if (!controller) return;
    const int64_t every = controller->check_every();
    std::vector<bool> should(rows, false);
    bool any = false;
    for (size_t i = 0; i < rows; ++i) {
      const int64_t n = static_cast<int64_t>(results[i].token_ids.size());
      should[i] = mode[i] == RowMode::Generating && n > 0 && n % every == 0;
      any = any || should[i];
    }
    if (!any) return;
    std::vector<std::vector<int32_t>> generated(rows);
    for (size_t i = 0; i < rows; ++i) generated[i] = results[i].token_ids;
    std::vector<ControllerCheck> checks = controller->check(should, generated);
    for (size_t i = 0; i < rows; ++i) {
      if (!should[i]) continue;
      results[i].checks.push_back(checks.at(i));
      if (!checks[i].fired) continue;
      results[i].stop_reason = "controller";
      results[i].stop_step = static_cast<int64_t>(results[i].token_ids.size());
      const bool in_think = !options.think_end_ids.empty() && !think_closed(results[i].token_ids);
      forced[i] = in_think && !options.force_answer_ids_in_think.empty() ? &options.force_answer_ids_in_think
                                                                         : &options.force_answer_ids;
      if (options.on_stop == OnStop::ForceAnswer && !forced[i]->empty()) {
        mode[i] = RowMode::ForcingPrompt;
        forced_fed[i] = 0;
        next_input[i] = (*forced[i])[0];
      } else {
        mode[i] = RowMode::Done;
      }
    }
  };

  const auto long_opts = at::TensorOptions().dtype(at::kLong);
  const auto start = Clock::now();
  // Prefill, one request after another (all arrive at `start`, so later ones' TTFT includes the wait).
  std::vector<at::Tensor> first_logits;
  std::vector<int64_t> first_tokens;
  for (size_t i = 0; i < rows; ++i) {
    std::vector<int64_t> ids(requests[i].prompt_ids.begin(), requests[i].prompt_ids.end());
    at::Tensor logits = model.prefill(at::tensor(ids, long_opts).to(model.device()), static_cast<int64_t>(i), cache);
    draws[i] = uniform(rngs[i]);
    TokenChoice choice = choose_tokens(logits, options.sampling, {draws[i]});
    const int64_t token = choice.tokens.cpu().item<int64_t>();
    context_len[i] = static_cast<int64_t>(ids.size());
    accept(i, token, choice.logprobs.cpu().item<float>(), seconds_since(start));
    if (controller) {
      first_logits.push_back(logits);
      first_tokens.push_back(token);
    }
  }
  if (controller) {
    controller->observe(at::tensor(first_tokens, long_opts).to(model.device()), at::cat(first_logits, 0),
                        at::tensor(std::vector<int64_t>(rows, 1), long_opts).to(at::kBool).to(model.device()));
    run_checks();
  }

  // Batched decode: every row runs each step (fixed shapes); finished rows are ignored.
  std::vector<std::vector<bool>> active_history;
  DecodeGraph graph(model, cache, options.cuda_graph);
  at::Tensor active_on_device;  // the controller's copy of the active flags, sent again only when they change
  std::vector<int64_t> active_sent;
  auto any_running = [&]() {
    return std::any_of(mode.begin(), mode.end(), [](RowMode m) { return m != RowMode::Done; });
  };
  while (any_running()) {
    std::vector<int64_t> positions(rows);
    std::vector<bool> active(rows);
    std::vector<int64_t> active_flags(rows);
    for (size_t i = 0; i < rows; ++i) {
      active[i] = mode[i] != RowMode::Done;
      active_flags[i] = active[i] ? 1 : 0;
      // A finished row re-feeds its last position (clamped to its cache) and is ignored.
      positions[i] = std::min(context_len[i], max_context - 1);
    }
    at::Tensor ids = at::tensor(next_input, long_opts).to(model.device());
    at::Tensor pos = at::tensor(positions, long_opts).to(model.device());
    at::Tensor logits = graph.step(ids, pos);
    active_history.push_back(active);
    cache.end_step();
    for (size_t i = 0; i < rows; ++i) {
      draws[i] = uniform(rngs[i]);
      if (active[i]) context_len[i] += 1;
    }
    TokenChoice choice = choose_tokens(logits, options.sampling, draws);
    at::Tensor tokens = choice.tokens.cpu();
    at::Tensor logprobs = choice.logprobs.cpu();
    const double now = seconds_since(start);
    auto tok = tokens.accessor<int64_t, 1>();
    auto lp = logprobs.accessor<float, 1>();
    for (size_t i = 0; i < rows; ++i) {
      if (!active[i]) continue;
      if (mode[i] == RowMode::ForcingPrompt) {
        forced_fed[i] += 1;
        if (forced_fed[i] < forced[i]->size()) {
          next_input[i] = (*forced[i])[forced_fed[i]];
          continue;
        }
        mode[i] = RowMode::Answering;  // the token sampled after the last forced token is the answer's first
      }
      accept(i, tok[static_cast<int64_t>(i)], lp[static_cast<int64_t>(i)], now);
    }
    if (controller) {
      if (!active_on_device.defined() || active_flags != active_sent) {
        active_on_device = at::tensor(active_flags, long_opts).to(at::kBool).to(model.device());
        active_sent = active_flags;
      }
      controller->observe(choice.tokens, logits, active_on_device);
      run_checks();
    }
  }

  std::vector<KVStepStats> kv = cache.summarize(active_history);
  for (size_t i = 0; i < rows; ++i) {
    results[i].timings = timings_from_token_times(token_times[i]);
    results[i].timings.jct_s = std::max(results[i].timings.jct_s, end_time[i]);
    results[i].kv = kv[i];
    results[i].kv_allocated_bytes = cache.allocated_bytes();
  }
  return results;
}

}  // namespace lil
