// One decode step of KVCache::decode_attention over all layers of a small attention-bound shape (2 layers,
// 2 KV heads x 4 query heads, head dim 64, float32, one row, one CPU thread), for every policy at contexts
// 1k / 8k / 32k and budgets 128..1024. No weights: the step is attention alone, so its time follows the KV
// bytes a policy reads plus its own scoring work.
// Counters: vs_full = step time / full's step time at the same context (full runs first);
// kv_read_ratio = tokens attended / context, the ratio an attention-bound step would approach.
// Setup: full and retention policies prefill the whole context; eviction policies hold `budget` slots at any
// context, so they prefill `budget` tokens and then decode at positions past `context` (their step does not
// depend on how long the sequence was). Each case runs a fixed number of steps, once, to keep the whole run
// near two minutes on two cores.
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "policies/prompt_attention.h"
#include "runtime/kv_cache.h"

namespace {

constexpr int64_t kLayers = 2, kKvHeads = 2, kQueryHeads = 8, kHeadDim = 64;
const std::vector<int64_t> kContexts = {1024, 8192, 32768};
const std::vector<int64_t> kBudgets = {128, 256, 512, 1024};

std::map<int64_t, double>& full_step_seconds() {
  static std::map<int64_t, double> seconds;
  return seconds;
}

int64_t steps_for(int64_t context) { return context >= 32768 ? 12 : context >= 8192 ? 25 : 60; }

void BM_PolicyStep(benchmark::State& state, const std::string& policy, int64_t budget, int64_t context) {
  at::set_num_threads(1);
  at::manual_seed(0);
  const lil::PolicyGeometry geometry{kLayers, kKvHeads, kQueryHeads, kHeadDim};
  auto made = lil::make_policy(policy, budget, {}, geometry);
  const bool evicts = made->kind() == lil::PolicyKind::Eviction;
  const int64_t prompt_len = evicts ? std::min(budget, context) : context;
  const int64_t steps = steps_for(context);
  lil::KVCache cache(std::move(made), lil::CacheShape{1, kLayers, kKvHeads, kQueryHeads, kHeadDim, context + steps + 1},
                     at::kFloat, c10::Device(c10::kCPU));
  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    cache.store_prefill(layer, 0, at::randn({kQueryHeads, prompt_len, kHeadDim}), at::randn({kKvHeads, prompt_len, kHeadDim}),
                        at::randn({kKvHeads, prompt_len, kHeadDim}), scale);
  }
  at::Tensor q = at::randn({1, kQueryHeads, kHeadDim}), k = at::randn({1, kKvHeads, kHeadDim}),
             v = at::randn({1, kKvHeads, kHeadDim});
  // Eviction caches were prefilled with `budget` tokens; their step continues as if at `context`.
  int64_t position = evicts ? std::max(context, prompt_len) : context;
  double seconds = 0;
  for (auto _ : state) {
    at::Tensor pos = at::full({1}, position++, at::kLong);
    const auto start = std::chrono::steady_clock::now();
    for (int64_t layer = 0; layer < kLayers; ++layer) {
      benchmark::DoNotOptimize(cache.decode_attention(layer, q, k, v, pos, scale).data_ptr<float>());
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cache.end_step();
  }
  const double per_step = seconds / static_cast<double>(state.iterations());
  if (policy == "full") full_step_seconds()[context] = per_step;
  const auto full = full_step_seconds().find(context);
  if (full != full_step_seconds().end()) state.counters["vs_full"] = per_step / full->second;
  state.counters["kv_read_ratio"] =
      policy == "full" ? 1.0 : static_cast<double>(std::min(budget, context)) / static_cast<double>(context);
}

// H2O's prefill scores (prompt_attention_received: the attention mass every prompt token receives from every
// prompt query, in query chunks) for one layer of the same shape: O(T^2) work, the part of a long prompt's
// prefill that H2O adds.
void BM_PromptAttentionReceived(benchmark::State& state) {
  at::set_num_threads(1);
  at::manual_seed(0);
  const int64_t prompt_len = state.range(0);
  at::Tensor q = at::randn({kQueryHeads, prompt_len, kHeadDim}), k = at::randn({kKvHeads, prompt_len, kHeadDim}),
             v = at::randn({kKvHeads, prompt_len, kHeadDim});
  const lil::PrefillView view{0, 0, q, k, v, 1.0 / std::sqrt(static_cast<double>(kHeadDim))};
  for (auto _ : state) benchmark::DoNotOptimize(lil::prompt_attention_received(view).data_ptr<float>());
}
BENCHMARK(BM_PromptAttentionReceived)->ArgName("prompt")->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);

// Registered at static-initialisation time, full first so the ratios have their denominator.
const bool kRegistered = [] {
  for (int64_t context : kContexts) {
    benchmark::RegisterBenchmark(("policy_step/full/context:" + std::to_string(context)).c_str(), BM_PolicyStep,
                                 std::string("full"), int64_t{0}, context)
        ->Iterations(steps_for(context))
        ->Unit(benchmark::kMillisecond);
  }
  for (const std::string policy : {"sink", "h2o", "tova", "snapkv", "rkv", "quest", "infllm"}) {
    for (int64_t context : kContexts) {
      for (int64_t budget : kBudgets) {
        const std::string name =
            "policy_step/" + policy + "/context:" + std::to_string(context) + "/budget:" + std::to_string(budget);
        benchmark::RegisterBenchmark(name.c_str(), BM_PolicyStep, policy, budget, context)
            ->Iterations(steps_for(context))
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return true;
}();

}  // namespace
