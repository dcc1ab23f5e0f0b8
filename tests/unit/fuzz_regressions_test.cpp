// What the fuzzers found, kept found: every input under fuzz/regressions/<target>/ (a crasher once),
// and adversarial inputs written by hand, replayed through the entry points the fuzz targets run
// (fuzz/entry_points.cpp). Each must be refused with a LilError, lil's clear error, or accepted: a crash,
// a hang or any other exception fails the test. scripts/sanitize.sh runs these under ASan + UBSan too.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/model_config.h"
#include "datasets/answer_normalization.h"
#include "datasets/dataset.h"
#include "datasets/latex_expression.h"
#include "fuzz/entry_points.h"
#include "fuzz/scratch_file.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const std::string kRegressionDir = std::string(LIL_SOURCE_DIR) + "/fuzz/regressions";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The LilError message the entry point answers `input` with; nullopt when it accepts the input.
std::optional<std::string> refusal(const std::string& target, const std::string& input) {
  try {
    lil::fuzz::entry_point(target).run(input);
  } catch (const lil::LilError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

}  // namespace

TEST_CASE("every committed fuzz regression input is refused with a LilError or accepted", "[fuzz]") {
  size_t replayed = 0;
  for (const auto& target_dir : fs::directory_iterator(kRegressionDir)) {
    const std::string target = target_dir.path().filename().string();
    // A folder named after no entry point would be skipped by scripts/fuzz.sh without a word.
    REQUIRE_NOTHROW(lil::fuzz::entry_point(target));
    for (const auto& file : fs::directory_iterator(target_dir.path())) {
      CAPTURE(file.path().string());
      const std::optional<std::string> error = refusal(target, read_bytes(file.path().string()));
      if (error) CHECK_FALSE(error->empty());
      ++replayed;
    }
  }
  CHECK(replayed >= 2);
}

TEST_CASE("fuzz regression: a JSON number beyond double range (1e999) in config.json", "[fuzz]") {
  const std::string text = read_bytes(kRegressionDir + "/model_config/json-number-overflow");
  CHECK_THROWS_WITH(lil::parse_model_config(text, "config.json"), Contains("config.json: unsupported JSON"));
}

TEST_CASE("fuzz regression: a JSON number beyond double range (1e999) in a data-set line", "[fuzz]") {
  lil::DatasetSpec spec;
  spec.name = "gsm8k";
  spec.path = kRegressionDir + "/dataset_jsonl/json-number-overflow";
  CHECK_THROWS_WITH(lil::load_dataset(spec), Contains(spec.path + ":1: malformed JSON"));
}

TEST_CASE("fuzz regression: deeply nested braces around an answer are peeled in one pass", "[fuzz]") {
  // normalize_answer peeled one wrapping pair at a time and matched the brackets again: 50,000 levels
  // (fuzz/regressions/answer_grading/nested-braces-quadratic) took 70 s; a million would never end.
  const size_t depth = 1'000'000;
  CHECK(lil::normalize_answer(std::string(depth, '{') + "42" + std::string(depth, '}')) == "42");
  const std::string regression = read_bytes(kRegressionDir + "/answer_grading/nested-braces-quadratic");
  CHECK_FALSE(refusal("answer_grading", regression).has_value());

  // The one-pass count agrees with the slow, obviously-right peeling on random bracket soup.
  auto peeled_slowly = [](std::string text) {
    size_t pairs = 0;
    while (text.size() >= 2 && text.front() == '{' && lil::matching_bracket(text, 0) == text.size() - 1) {
      text = text.substr(1, text.size() - 2);
      ++pairs;
    }
    return pairs;
  };
  std::mt19937 random(11);
  const std::string alphabet = "{{{}}}x\\";
  for (int trial = 0; trial < 20000; ++trial) {
    std::string text(random() % 12, ' ');
    for (char& c : text) c = alphabet[random() % alphabet.size()];
    CAPTURE(text);
    CHECK(lil::wrapping_brace_pairs(text) == peeled_slowly(text));
  }
}

TEST_CASE("fuzz regression: 0^0 and 0^-n in an answer are refused before GiNaC throws (and leaks)", "[fuzz]") {
  // GiNaC's pow() allocates the power object and then throws from its evaluation for 0^0 and 0^-n; the
  // object is never freed (LeakSanitizer: fuzz/regressions/answer_grading/ginac-pow-zero-zero-leak). The
  // parser refuses both first, as it refuses 1/0. Under scripts/sanitize.sh a leak here fails the run.
  std::lock_guard<std::mutex> lock(lil::ginac_mutex());
  lil::SymbolTable symbols;
  for (const char* undefined : {"0^0", "0^{-1}", "(1-1)^{0}", "0^{-\\frac{1}{2}}"}) {
    CAPTURE(undefined);
    CHECK_FALSE(lil::parse_latex_expression(undefined, symbols).has_value());
  }
  const auto zero = lil::parse_latex_expression("0^{3}", symbols);
  REQUIRE(zero.has_value());
  CHECK(zero->value.is_zero());
}

TEST_CASE("adversarial inputs to every fuzzed entry point give a LilError naming what is wrong", "[fuzz]") {
  struct Case {
    std::string target;
    std::string input;
    std::string message;  // part of the LilError expected
  };
  const std::string deep_array = std::string(100000, '[') + std::string(100000, ']');
  const std::vector<Case> cases = {
      {"safetensors_header", "", "shorter than the 8-byte"},
      {"safetensors_header", le64(~uint64_t{0}) + "{}", "header length 18446744073709551615 exceeds"},
      {"safetensors_header", R"({"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}})",
       "run past the end of the data buffer (256 bytes)"},
      {"safetensors_header", R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})",
       "more elements than 64-bit sizes can hold"},
      {"safetensors_header", R"({"w":{"dtype":"F32","shape":[64],"data_offsets":[18446744073709551360,0]}})",
       "begin is after end"},
      {"safetensors_header", "{\"__metadata__\":" + deep_array + "}", "model.safetensors"},
      {"safetensors_index", R"({"weight_map":{"model.norm.weight":"../../../../etc/passwd"}})", "passwd"},
      {"safetensors_index", R"({"weight_map":{"no.such.tensor":"model-00001-of-00002.safetensors"}})", "no.such.tensor"},
      {"safetensors_index", R"({"weight_map":[]})", "model.safetensors.index.json"},
      {"model_config", deep_array, "config.json"},
      {"model_config", R"({"architectures":["LlamaForCausalLM"],"vocab_size":1e308})", "key 'vocab_size'"},
      {"tokenizer_json", deep_array, "tokenizer.json"},
      {"tokenizer_json", R"({"model":{"type":"BPE","vocab":{"a":4294967296},"merges":[]}})", "is out of range"},
      {"sweep_config", deep_array, "sweep.json"},
      {"sweep_config", "{\"models\": 1e999}", "sweep.json: unsupported JSON"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.target, c.input.substr(0, 200));
    const std::optional<std::string> error = refusal(c.target, c.input);
    REQUIRE(error.has_value());
    CHECK_THAT(*error, Contains(c.message));
  }
}

TEST_CASE("adversarial text, ids, data-set files and answers are handled without a crash", "[fuzz]") {
  // These entry points answer each step on its own (they refuse nothing as a whole): they must return.
  const std::string deep_braces = std::string(50000, '{') + "1" + std::string(50000, '}');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"tokenizer_codec", std::string("\xff\xfe\x80\xc0", 4) + std::string(4096, '\xe4')},
      {"tokenizer_codec", std::string(64, '\x7f') + le64(~uint64_t{0}) + std::string(1 << 16, ' ')},
      {"tokenizer_codec", std::string(200000, 'a')},
      {"dataset_jsonl", std::string("{\"question\": \"q\", \"answer\": \"#### 1\"}\n") + "\xff\n"},
      {"dataset_jsonl", std::string(100000, '[')},
      {"answer_grading", "\\boxed{" + deep_braces + "}" + '\0' + "1"},
      {"answer_grading", std::string("The answer is $10^{10^{10^{10^{10}}}}$") + '\0' + "1"},
      {"answer_grading", std::string(1, '\0') + "\\frac{1}{0}"},
  };
  for (const auto& [target, input] : cases) {
    CAPTURE(target, input.substr(0, 200));
    CHECK_NOTHROW(lil::fuzz::entry_point(target).run(input));
  }
}

TEST_CASE("the fuzzed entry points accept the real files their seeds come from", "[fuzz]") {
  // Otherwise a harness that refuses everything would pass every test above and fuzz nothing.
  const std::string fixtures = std::string(LIL_SOURCE_DIR) + "/tests/fixtures";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model_config", read_bytes(fixtures + "/models/tiny-qwen2/config.json")},
      {"safetensors_index", read_bytes(fixtures + "/models/tiny-llama/model.safetensors.index.json")},
      {"tokenizer_json", read_bytes(fixtures + "/tokenizer/synthetic/bpe_unk/tokenizer.json")},
      {"sweep_config", read_bytes(std::string(LIL_SOURCE_DIR) + "/configs/ci-smoke.json")},
      {"safetensors_header", R"({"w":{"dtype":"F32","shape":[8,8],"data_offsets":[0,256]}})"},
      {"answer_grading", std::string("The answer is $\\boxed{42}$.") + '\0' + "42"},
  };
  for (const auto& [target, input] : cases) {
    CAPTURE(target);
    CHECK(refusal(target, input) == std::nullopt);
  }
}
