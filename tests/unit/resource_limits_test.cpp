// Resource limits on files that come from anywhere: a tokenizer.json too large to be real (a billion
// merges, a device that never ends), too many merges, ids too large for lil's per-id tables, a regex that
// backtracks forever. Each is refused with a LilError naming the file and the limit, in bounded memory.
// A config.json whose expert count would make the expected-tensor table fill memory is refused too. (A
// safetensors header that claims absurd sizes: tests/unit/safetensors_test.cpp; absurd layer and hidden
// sizes: tests/unit/model_config_test.cpp; a prompt beyond max_position_embeddings: tests/cli/test_faults.sh.)
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/model_config.h"
#include "fuzz/scratch_file.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/tokenizer.h"

using Catch::Matchers::Contains;
using lil::Tokenizer;

namespace {

// The process's peak resident memory so far. It only grows, so a rise of more than `x` across a call
// means the call itself held at least `x` at some point.
int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

constexpr int64_t kMiB = int64_t{1} << 20;

std::string load_error(const std::string& tokenizer_json_path) {
  try {
    (void)Tokenizer::from_files(tokenizer_json_path, "");
  } catch (const lil::LilError& e) {
    return e.what();
  }
  return "<loaded>";
}

// A loadable tokenizer.json around the given vocabulary and merges (JSON text).
std::string tokenizer_text(const std::string& vocab, const std::string& merges, const std::string& pre_tokenizer = "null") {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": )" + pre_tokenizer +
         R"(, "post_processor": null, "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": )" + vocab +
         R"(, "merges": )" + merges + "}}";
}

}  // namespace

TEST_CASE("a tokenizer.json the size of a billion merges is refused before any of it is read", "[limits]") {
  // Each merge "a b", takes at least 6 bytes: a billion of them make a 6 GB file (sparse here).
  const std::string path = lil::fuzz::scratch_dir("limits") + "/tokenizer.json";
  std::filesystem::resize_file(lil::fuzz::write_scratch("limits", "tokenizer.json", ""), 6'000'000'000);
  const int64_t peak_before = peak_rss_bytes();
  const std::string error = load_error(path);
  std::filesystem::remove(path);
  CHECK_THAT(error, Contains(path + ": file is 6000000000 bytes; the limit for this file is 134217728 bytes (128 MiB)"));
  CHECK(peak_rss_bytes() - peak_before < 64 * kMiB);
}

TEST_CASE("a tokenizer.json that never ends is read no further than the limit", "[limits]") {
  // A device (or a pipe) has no size to check up front: the read itself stops.
  CHECK_THAT(load_error("/dev/zero"), Contains("/dev/zero: file is longer than 134217728 bytes; the limit"));
  CHECK_THROWS_WITH(Tokenizer::from_files(lil::fuzz::write_scratch("limits", "ok.json", tokenizer_text(R"({"a": 0})", "[]")),
                                          "/dev/zero"),
                    Contains("/dev/zero: file is longer than 134217728 bytes"));
}

TEST_CASE("more merges than the limit are refused, naming the key and the limit", "[limits]") {
  std::string merges = "[";
  merges.reserve(6 * (lil::BpeModel::kMaxMerges + 2));
  for (size_t i = 0; i <= lil::BpeModel::kMaxMerges; ++i) merges += "\"a b\",";
  merges.back() = ']';
  const std::string path =
      lil::fuzz::write_scratch("limits", "merges.json", tokenizer_text(R"({"a": 0, "b": 1, "ab": 2})", merges));
  CHECK_THAT(load_error(path), Contains(path + ": key 'model.merges': 4194305 merges; lil accepts at most 4194304"));
}

TEST_CASE("token ids beyond the limit are refused; the largest allowed id loads in bounded memory", "[limits]") {
  const int64_t largest = lil::BpeModel::kMaxTokenId;
  for (const int64_t id : {largest + 1, int64_t{1} << 31, int64_t{-1}}) {
    const std::string path = lil::fuzz::write_scratch(
        "limits", "ids.json", tokenizer_text(R"({"a": 0, "b": )" + std::to_string(id) + "}", "[]"));
    CAPTURE(id);
    CHECK_THAT(load_error(path), Contains(path + ": key 'model.vocab.b': id " + std::to_string(id) +
                                          " is out of range (lil accepts ids 0..2097151)"));
  }
  // A sparse vocabulary at the limit costs lil's per-id tables, ~100 bytes an id: ~200 MB, not gigabytes.
  const std::string path = lil::fuzz::write_scratch(
      "limits", "ids.json", tokenizer_text(R"({"a": 0, "b": )" + std::to_string(largest) + "}", "[]"));
  const int64_t peak_before = peak_rss_bytes();
  {
    const Tokenizer tokenizer = Tokenizer::from_files(path, "");
    CHECK(tokenizer.vocab_size() == largest + 1);
    CHECK(tokenizer.encode("ab", false) == std::vector<int32_t>{0, static_cast<int32_t>(largest)});
  }
  CHECK(peak_rss_bytes() - peak_before < 1024 * kMiB);
}

TEST_CASE("a pre-tokenizer regex that backtracks without end fails with a LilError instead of hanging", "[limits]") {
  // (a+)+$ on "aaa...ab" tries every way to split the a's: 2^40 paths. PCRE2's match limit stops it.
  const std::string pre_tokenizer = R"({"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false})";
  const std::string path = lil::fuzz::write_scratch(
      "limits", "regex.json", tokenizer_text(R"({"a": 0, "b": 1})", "[]", pre_tokenizer));
  const Tokenizer tokenizer = Tokenizer::from_files(path, "");
  CHECK(tokenizer.encode("aab", false) == std::vector<int32_t>{0, 0, 1});
  CHECK_THROWS_WITH(tokenizer.encode(std::string(40, 'a') + "b", false),
                    Contains(path + ": pre-tokenizer: PCRE2 matching failed: match limit exceeded"));
}

TEST_CASE("a MoE config.json claiming absurd expert counts is refused before the tensor table is built", "[limits]") {
  std::ifstream in(std::string(LIL_SOURCE_DIR) + "/tests/fixtures/models/tiny-qwen2-moe/config.json");
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json config = nlohmann::json::parse(text.str());
  // 4096 layers x 2^24 experts would be 2^38 table entries (hours, terabytes); 2^63-1 experts, forever.
  config["num_hidden_layers"] = 4096;
  config["mlp_only_layers"] = nlohmann::json::array();
  for (const int64_t experts : {int64_t{1} << 24, int64_t{9223372036854775807}}) {
    config["num_experts"] = experts;
    CHECK_THROWS_WITH(lil::parse_model_config(config.dump(), "config.json"),
                      Contains("config.json: key 'num_experts': expected at most 64 (2^18 experts in all over 4096 layers), got " +
                               std::to_string(experts)));
  }
  // At the limit the table is 2^18 experts x 3 tensors, in bounded memory.
  config["num_hidden_layers"] = 4;
  config["num_experts"] = 65536;
  const int64_t peak_before = peak_rss_bytes();
  const lil::ModelConfig parsed = lil::parse_model_config(config.dump(), "config.json");
  CHECK(lil::expected_tensors(parsed).size() > 3 * 65536 * 4);
  CHECK(peak_rss_bytes() - peak_before < 1024 * kMiB);
}
