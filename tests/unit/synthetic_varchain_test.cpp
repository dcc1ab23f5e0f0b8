// The synthetic varchain task: determinism, the train/test split, knobs, solutions checked by the independent
// evaluator, grading through the normal grader, and loading through the normal JSONL loader. Also the
// byte-level tokenizer files lil's trained models ship with, read back by lil's tokenizer loader.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"
#include "datasets/synthetic_varchain.h"
#include "tokenizer/byte_level_vocab.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using lil::SynthSplit;

namespace {

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("lil-varchain-" + name + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

size_t count_lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("varchain: the same (split, seed, index) gives the same problem; other seeds differ", "[synthetic]") {
  const lil::VarchainOptions o;
  const auto a = lil::make_varchain_problem(o, SynthSplit::Test, 7, 3);
  const auto b = lil::make_varchain_problem(o, SynthSplit::Test, 7, 3);
  CHECK(a.question == b.question);
  CHECK(a.solution == b.solution);
  CHECK(a.id == "test-7-3");
  CHECK(lil::make_varchain_problem(o, SynthSplit::Test, 8, 3).question != a.question);
  CHECK(lil::make_varchain_problem(o, SynthSplit::Test, 7, 4).question != a.question);
}

TEST_CASE("varchain: solutions are correct step by step, end in the boxed answer, and grade correct", "[synthetic]") {
  lil::VarchainOptions o;
  o.min_vars = 5;
  o.max_vars = 9;
  for (const auto& p : lil::make_varchain_problems(o, SynthSplit::Train, 1, 0, 200)) {
    INFO(p.question << "\n" << p.solution);
    CHECK(lil::check_varchain_solution(p.question, p.solution, o.modulus).empty());
    const size_t steps = count_lines(p.solution);  // one line per definition, then the box
    CHECK(steps >= 5);
    CHECK(steps <= 9);
    CHECK(p.solution.substr(p.solution.rfind('\n') + 1) == "\\boxed{" + p.answer + "}");
    CHECK(lil::grade("jsonl", p.solution, p.answer, /*strict=*/true).correct);
    const std::string other = std::to_string((std::stoi(p.answer) + 1) % 10);
    CHECK_FALSE(lil::grade("jsonl", p.solution, other, true).correct);
  }
}

TEST_CASE("varchain: the checker rejects a wrong value, a skipped step and a wrong box", "[synthetic]") {
  const auto p = lil::make_varchain_problem(lil::VarchainOptions{}, SynthSplit::Test, 3, 0);
  std::string wrong_value = p.solution;
  const size_t eq = wrong_value.find('\n') - 1;  // the first line is a constant "x=D"
  wrong_value[eq] = wrong_value[eq] == '9' ? '0' : static_cast<char>(wrong_value[eq] + 1);
  CHECK_THAT(lil::check_varchain_solution(p.question, wrong_value, 10), Catch::Contains("differs"));
  const std::string skipped = p.solution.substr(p.solution.find('\n') + 1);
  CHECK_FALSE(lil::check_varchain_solution(p.question, skipped, 10).empty());
  const std::string wrong_box = p.solution.substr(0, p.solution.rfind('{') + 1) + "x}";
  CHECK_FALSE(lil::check_varchain_solution(p.question, wrong_box, 10).empty());
}

TEST_CASE("varchain: train and test are disjoint and each problem's hash decides its split", "[synthetic]") {
  const lil::VarchainOptions o;
  std::set<std::string> test_questions;
  for (const auto& p : lil::make_varchain_problems(o, SynthSplit::Test, 5, 0, 300)) {
    CHECK(lil::varchain_split_of(p.question) == SynthSplit::Test);
    test_questions.insert(p.question);
  }
  CHECK(test_questions.size() == 300);
  for (const auto& p : lil::make_varchain_problems(o, SynthSplit::Train, 5, 0, 2000)) {
    CHECK(lil::varchain_split_of(p.question) == SynthSplit::Train);
    CHECK(test_questions.count(p.question) == 0);
  }
}

TEST_CASE("varchain: knobs shape the problems", "[synthetic]") {
  lil::VarchainOptions o;
  o.min_vars = o.max_vars = 6;
  o.fan_in = 3;
  o.constant_prob = 0;
  o.variable_operand_prob = 1;
  o.max_lookback = 1;
  o.modulus = 100;
  const auto p = lil::make_varchain_problem(o, SynthSplit::Train, 11, 0);
  INFO(p.question);
  CHECK(lil::check_varchain_solution(p.question, p.solution, 100).empty());
  // Six definitions; each computed one is "x=y?y?y" with y the definition just before it (lookback 1).
  std::vector<std::string> defs;
  std::string def;
  std::istringstream in(p.question.substr(0, p.question.find(". What is ")));
  while (std::getline(in, def, ';')) defs.push_back(def);
  REQUIRE(defs.size() == 6);
  for (size_t i = 1; i < defs.size(); ++i) {
    REQUIRE(defs[i].size() == 7);
    CHECK(defs[i][2] == defs[i - 1][0]);
    CHECK(defs[i][4] == defs[i - 1][0]);
    CHECK(defs[i][6] == defs[i - 1][0]);
  }
}

TEST_CASE("varchain: alphabetical_names names the definitions a, b, c, ... in order", "[synthetic]") {
  lil::VarchainOptions o;
  o.alphabetical_names = true;
  o.min_vars = o.max_vars = 5;
  const auto p = lil::make_varchain_problem(o, SynthSplit::Test, 1, 0);
  INFO(p.question);
  CHECK(p.question.rfind("a=", 0) == 0);
  for (const char* name : {";b=", ";c=", ";d=", ";e="}) CHECK(p.question.find(name) != std::string::npos);
  CHECK(p.question.substr(p.question.size() - 12) == ". What is e?");
  CHECK(lil::check_varchain_solution(p.question, p.solution, 10).empty());
  CHECK(lil::parse_varchain_options(nlohmann::json{{"alphabetical_names", true}}, "cfg").alphabetical_names);
  CHECK_THROWS_WITH(lil::parse_varchain_options(nlohmann::json{{"alphabetical_names", 1}}, "cfg"),
                    Catch::Contains("expected true or false"));
}

TEST_CASE("varchain: option errors name the key", "[synthetic]") {
  CHECK_THROWS_WITH(lil::parse_varchain_options(nlohmann::json{{"max_vars", 27}}, "cfg"), Catch::Contains("max_vars"));
  CHECK_THROWS_WITH(lil::parse_varchain_options(nlohmann::json{{"fan_in", 0}}, "cfg"), Catch::Contains("fan_in"));
  CHECK_THROWS_WITH(lil::parse_varchain_options(nlohmann::json{{"steps", 3}}, "cfg"), Catch::Contains("unknown key 'steps'"));
  CHECK_THROWS_WITH(lil::parse_varchain_options(nlohmann::json{{"min_vars", "8"}}, "cfg"), Catch::Contains("expected an integer"));
  CHECK_THROWS_AS(lil::parse_synth_split("dev", "--split"), lil::LilError);
  const auto round_trip = lil::parse_varchain_options(lil::varchain_options_json(lil::VarchainOptions{}), "cfg");
  CHECK(round_trip.max_vars == lil::VarchainOptions{}.max_vars);
}

TEST_CASE("varchain: JSONL records load through the normal jsonl data set kind", "[synthetic]") {
  const fs::path dir = scratch_dir("jsonl");
  const auto problems = lil::make_varchain_problems(lil::VarchainOptions{}, SynthSplit::Test, 2, 0, 5);
  std::string text;
  for (const auto& p : problems) text += lil::varchain_jsonl_line(p) + "\n";
  lil::write_text_file_atomic((dir / "test.jsonl").string(), text);
  lil::DatasetSpec spec;
  spec.name = "jsonl";
  spec.path = (dir / "test.jsonl").string();
  spec.id_field = "id";
  const auto loaded = lil::load_dataset(spec);
  REQUIRE(loaded.size() == 5);
  CHECK(loaded[4].id == "test-2-4");
  CHECK(loaded[4].question == problems[4].question);
  CHECK(loaded[4].gold_answer == problems[4].answer);
  fs::remove_all(dir);
}

TEST_CASE("byte-level vocabulary: lil reads the files it writes, one token per byte, BOS/EOS special", "[synthetic][tokenizer]") {
  const fs::path dir = scratch_dir("tok");
  const lil::ByteLevelVocab vocab;
  lil::write_text_file_atomic((dir / "tokenizer.json").string(), lil::byte_level_tokenizer_json(vocab).dump(2));
  lil::write_text_file_atomic((dir / "tokenizer_config.json").string(),
                              lil::byte_level_tokenizer_config_json(vocab, 1024).dump(2));
  const lil::Tokenizer tok = lil::Tokenizer::from_model_dir(dir.string());
  CHECK(tok.vocab_size() == 258);
  REQUIRE(tok.bos_id());
  REQUIRE(tok.eos_id());
  CHECK(*tok.bos_id() == 256);
  CHECK(*tok.eos_id() == 257);
  const std::string text = "a=7;k=a+5. What is k?\nk=a+5=7+5=2\n\\boxed{2} caf\xc3\xa9";
  const auto ids = tok.encode(text, /*add_special_tokens=*/false);
  REQUIRE(ids.size() == text.size());
  for (size_t i = 0; i < text.size(); ++i) CHECK(ids[i] == static_cast<unsigned char>(text[i]));
  CHECK(tok.decode(ids) == text);
  const auto with_bos = tok.encode("x", true);
  CHECK(with_bos == std::vector<int32_t>{256, 'x'});
  CHECK(tok.encode("<|bos|>x<|eos|>", false) == std::vector<int32_t>{256, 'x', 257});
  CHECK(tok.decode({'h', 'i', 257}, /*skip_special_tokens=*/true) == "hi");
  fs::remove_all(dir);
}
