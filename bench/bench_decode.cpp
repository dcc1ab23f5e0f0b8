// One decode step of a small Llama-shaped model on CPU (random weights), at several contexts and batch
// sizes, full attention. Reports tokens/s via items_per_second (one token per row per step).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/model_config.h"
#include "runtime/bench_runner.h"
#include "runtime/kv_cache.h"
#include "runtime/model.h"

namespace {

void BM_DecodeStep(benchmark::State& state) {
  const int64_t context = state.range(0);
  const int64_t batch = state.range(1);
  at::set_num_threads(1);
  const lil::ModelConfig config = lil::bench_shape("tiny");  // the `lil bench --shape tiny` model
  auto model = lil::CausalLM::random(config, at::kFloat, c10::Device(c10::kCPU), 0);
  lil::KVCache cache(lil::make_policy("full", 0, {}, {config.num_hidden_layers, config.num_key_value_heads,
                                                        config.num_attention_heads, config.head_dim}),
                     lil::CacheShape{batch, config.num_hidden_layers, config.num_key_value_heads,
                                     config.num_attention_heads, config.head_dim, context + 64},
                     at::kFloat, c10::Device(c10::kCPU));
  model->reserve_positions(context + 64);
  at::Tensor prompt = at::randint(0, config.vocab_size, {context}, at::kLong);
  for (int64_t row = 0; row < batch; ++row) model->prefill(prompt, row, cache);
  at::Tensor ids = at::randint(0, config.vocab_size, {batch}, at::kLong);
  // Re-decode the same position: the cache gains one entry per step, so bound the loop below its capacity.
  int64_t step = 0;
  for (auto _ : state) {
    at::Tensor pos = at::full({batch}, context + (step % 32), at::kLong);
    at::Tensor logits = model->decode(ids, pos, cache);
    benchmark::DoNotOptimize(logits.data_ptr<float>());
    cache.end_step();
    if (++step % 32 == 0) {
      state.PauseTiming();
      for (int64_t row = 0; row < batch; ++row) model->prefill(prompt, row, cache);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["weight_MB"] = static_cast<double>(model->weight_bytes()) / 1e6;
}
BENCHMARK(BM_DecodeStep)->ArgNames({"context", "batch"})->Args({128, 1})->Args({1024, 1})->Args({1024, 8})
    ->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
