// Data set loading: the registry, the real benchmark files in ../shared/datasets (never copied into the
// repository), the compiled-in samples, selection, and the errors a malformed file must produce.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/data_paths.h"
#include "datasets/dataset.h"
#include "datasets/sample_data.h"

namespace fs = std::filesystem;

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;

std::string real_file(const std::string& kind) {
  return lil::resolve_shared_dir(kSourceDir) + "/" + lil::find_dataset_kind(kind).default_path;
}

std::vector<lil::Problem> load_real(const std::string& kind, int64_t limit = -1, int64_t offset = 0) {
  lil::DatasetSpec spec;
  spec.name = kind;
  spec.path = real_file(kind);
  spec.limit = limit;
  spec.offset = offset;
  return lil::load_dataset(spec);
}

// A scratch file per test, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static int counter = 0;
    path_ = (fs::temp_directory_path() / ("lil_dataset_test_" + std::to_string(::getpid()) + "_" +
                                          std::to_string(counter++) + ".jsonl")).string();
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() { fs::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<lil::Problem> load_text(const std::string& kind, const std::string& text) {
  TempFile file(text);
  lil::DatasetSpec spec;
  spec.name = kind;
  spec.path = file.path();
  return lil::load_dataset(spec);
}

}  // namespace

TEST_CASE("the registry lists every benchmark kind with its layout", "[dataset]") {
  std::vector<std::string> names;
  for (const auto& kind : lil::list_dataset_kinds()) names.push_back(kind.name);
  CHECK(names == std::vector<std::string>{"gsm8k", "math500", "aime24", "aime25", "amc23", "jsonl"});
  CHECK(lil::find_dataset_kind("math500").id_field == "unique_id");
  CHECK(lil::find_dataset_kind("aime25").question_field == "prompt");
  CHECK(lil::find_dataset_kind("gsm8k").grading == lil::GradingMode::number);
  CHECK(lil::find_dataset_kind("aime24").grading == lil::GradingMode::integer);
  CHECK(lil::find_dataset_kind("jsonl").default_path.empty());
  CHECK_THROWS_WITH(lil::find_dataset_kind("gsm9k"),
                    Catch::Contains("unknown data set") && Catch::Contains("gsm8k, math500, aime24"));
}

TEST_CASE("real benchmark files load with the counts and fields of SOURCES.md", "[dataset][real]") {
  const auto gsm8k = load_real("gsm8k");
  REQUIRE(gsm8k.size() == 1319);
  CHECK(gsm8k[0].id == "0");
  CHECK(gsm8k[0].gold_answer == "18");
  CHECK(gsm8k[0].question.rfind("Janet", 0) == 0);
  CHECK(gsm8k[0].solution.find("#### 18") != std::string::npos);
  const auto with_separators = std::count_if(gsm8k.begin(), gsm8k.end(), [](const lil::Problem& p) {
    return p.gold_answer.find(',') != std::string::npos;
  });
  CHECK(with_separators == 14);
  CHECK(gsm8k[1318].index == 1318);
  CHECK(gsm8k[1318].id == "1318");

  const auto math500 = load_real("math500");
  REQUIRE(math500.size() == 500);
  CHECK(math500[0].id == "test/precalculus/807.json");
  CHECK(math500[0].gold_answer == "\\left( 3, \\frac{\\pi}{2} \\right)");
  CHECK(math500[0].solution.find("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}") != std::string::npos);
  std::set<std::string> ids;
  for (const auto& p : math500) ids.insert(p.id);
  CHECK(ids.size() == 500);

  const auto aime24 = load_real("aime24");
  REQUIRE(aime24.size() == 30);
  CHECK(aime24.front().id == "60");
  CHECK(aime24.back().id == "89");
  CHECK(std::any_of(aime24.begin(), aime24.end(), [](const lil::Problem& p) { return p.gold_answer == "025"; }));

  const auto aime25 = load_real("aime25");
  REQUIRE(aime25.size() == 30);
  const std::vector<std::string> expected_answers = {"70",  "588", "16",  "117", "279", "504", "821", "77",
                                                     "62",  "81",  "259", "510", "204", "60",  "735", "468",
                                                     "49",  "82",  "106", "336", "293", "237", "610", "149",
                                                     "907", "113", "19",  "248", "104", "240"};
  for (size_t i = 0; i < aime25.size(); ++i) {
    CHECK(aime25[i].gold_answer == expected_answers[i]);
    CHECK(aime25[i].id == std::to_string(i));
    // The instruction suffix of the QwQ file is stripped: templates add their own.
    CHECK(aime25[i].question.find("Please reason step by step") == std::string::npos);
  }
  CHECK(aime25[0].question == "Find the sum of all integer bases $b>9$ for which $17_b$ is a divisor of $97_b.$");

  const auto amc23 = load_real("amc23");
  REQUIRE(amc23.size() == 40);
  CHECK(amc23[0].gold_answer == "27");  // 27.0 in the file
  CHECK(std::any_of(amc23.begin(), amc23.end(), [](const lil::Problem& p) { return p.gold_answer == "-1"; }));
  CHECK(amc23[0].solution.empty());
}

TEST_CASE("the default file comes from the shared dir", "[dataset][real]") {
  lil::DatasetSpec spec;
  spec.name = "aime25";
  CHECK(lil::dataset_file_path(spec) == fs::path(real_file("aime25")).lexically_normal().string());
  CHECK(lil::load_dataset(spec).size() == 30);
  spec.name = "jsonl";
  CHECK_THROWS_WITH(lil::load_dataset(spec), Catch::Contains("has no default file"));
}

TEST_CASE("limit and offset select a window of records", "[dataset][real]") {
  const auto first200 = load_real("gsm8k", 200);
  REQUIRE(first200.size() == 200);
  CHECK(first200.back().index == 199);
  const auto tail = load_real("gsm8k", 200, 1310);
  REQUIRE(tail.size() == 9);
  CHECK(tail.front().index == 1310);
  CHECK(tail.front().id == "1310");
  CHECK(load_real("aime24", 200).size() == 30);
  CHECK(load_real("aime24", -1, 30).empty());
  CHECK(load_real("aime24", 0).empty());
  CHECK_THROWS_WITH(load_real("aime24", 5, -1), Catch::Contains("offset"));
}

TEST_CASE("the compiled-in samples equal datasets/samples/ and load like real files", "[dataset][sample]") {
  for (const auto& kind : lil::list_dataset_kinds()) {
    INFO(kind.name);
    const auto embedded = lil::embedded_sample_text(kind.name);
    REQUIRE(embedded.has_value());
    CHECK(*embedded == lil::read_text_file(kSourceDir + "/" + lil::sample_file_path(kind.name)));
    lil::DatasetSpec spec;
    spec.name = kind.name;
    spec.use_sample = true;
    const auto problems = lil::load_dataset(spec);
    CHECK(problems.size() >= 3);
    for (const auto& p : problems) {
      CHECK_FALSE(p.question.empty());
      CHECK_FALSE(p.gold_answer.empty());
    }
  }
  lil::DatasetSpec spec;
  spec.use_sample = true;
  spec.name = "gsm8k";
  CHECK(lil::load_dataset(spec)[1].gold_answer == "1,975");
  spec.name = "aime25";
  CHECK(lil::load_dataset(spec)[0].question == "Find the sum of the digits of $2^{12}$.");
  spec.name = "amc23";
  CHECK(lil::load_dataset(spec)[1].gold_answer == "-1");
  spec.name = "aime24";
  CHECK(lil::load_dataset(spec)[1].gold_answer == "024");
  spec.name = "math500";
  CHECK(lil::load_dataset(spec)[4].id == "sample/precalculus/5.json");
  spec.path = "/some/file.jsonl";
  CHECK_THROWS_WITH(lil::load_dataset(spec), Catch::Contains("not both"));
}

TEST_CASE("generic JSONL with configurable fields", "[dataset]") {
  TempFile file(
      "{\"q\": \"What is 2+2?\", \"a\": 4, \"uid\": \"first\"}\n"
      "\n"
      "{\"q\": \"Half of 3?\", \"a\": 1.5, \"uid\": 7}\r\n");
  lil::DatasetSpec spec;
  spec.name = "jsonl";
  spec.path = file.path();
  spec.question_field = "q";
  spec.answer_field = "a";
  spec.id_field = "uid";
  const auto problems = lil::load_dataset(spec);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].id == "first");
  CHECK(problems[0].gold_answer == "4");
  CHECK(problems[1].id == "7");
  CHECK(problems[1].index == 1);  // the blank line carries no record
  CHECK(problems[1].gold_answer == "1.5");

  spec.id_field.clear();
  CHECK(lil::load_dataset(spec)[1].id == "1");
}

TEST_CASE("malformed data files fail with the file, the line and what was expected", "[dataset][errors]") {
  const auto error_of = [](const std::string& kind, const std::string& text) -> std::string {
    try {
      load_text(kind, text);
    } catch (const lil::LilError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string good = "{\"question\": \"q\", \"answer\": \"a\"}\n";
  std::string message = error_of("jsonl", good + good + "{\"question\": \"q\", \n");
  CHECK_THAT(message, Catch::Contains(".jsonl:3: malformed JSON"));
  message = error_of("jsonl", good + "{\"answer\": \"a\"}\n");
  CHECK_THAT(message, Catch::Contains(".jsonl:2:") && Catch::Contains("missing key 'question'"));
  message = error_of("jsonl", "{\"question\": 5, \"answer\": \"a\"}\n");
  CHECK_THAT(message, Catch::Contains(":1:") && Catch::Contains("question"));
  message = error_of("jsonl", "{\"question\": \"q\", \"answer\": [1]}\n");
  CHECK_THAT(message, Catch::Contains("field 'answer': expected a string or a number, got an array"));
  message = error_of("jsonl", "[1, 2]\n");
  CHECK_THAT(message, Catch::Contains(":1: expected a JSON object, got an array"));
  message = error_of("jsonl", "{\"question\": \"q\", \"answer\": \"\"}\n");
  CHECK_THAT(message, Catch::Contains("empty answer"));
  message = error_of("gsm8k", "{\"question\": \"q\", \"answer\": \"It is 5\"}\n");
  CHECK_THAT(message, Catch::Contains(":1: field 'answer': expected the final answer after '#### '"));
  message = error_of("aime24", "{\"id\": 1, \"problem\": \"p\", \"answer\": \"001\"}\n"
                               "{\"id\": 1, \"problem\": \"p\", \"answer\": \"002\"}\n");
  CHECK_THAT(message, Catch::Contains(":2: duplicate id '1' (first on line 1)"));

  lil::DatasetSpec spec;
  spec.name = "gsm8k";
  spec.path = "/nonexistent/dir/test.jsonl";
  CHECK_THROWS_WITH(lil::load_dataset(spec), Catch::Contains("/nonexistent/dir/test.jsonl"));
}

TEST_CASE("the shared dir honours LIL_SHARED_DIR", "[dataset]") {
  const char* original = std::getenv("LIL_SHARED_DIR");
  const std::string saved = original ? original : "";
  const std::string scratch = (fs::temp_directory_path() / ("lil_shared_" + std::to_string(::getpid()))).string();
  fs::create_directories(scratch);
  ::setenv("LIL_SHARED_DIR", scratch.c_str(), 1);
  CHECK(lil::resolve_shared_dir() == scratch);
  ::setenv("LIL_SHARED_DIR", (scratch + "/missing").c_str(), 1);
  CHECK_THROWS_WITH(lil::resolve_shared_dir(), Catch::Contains("LIL_SHARED_DIR") && Catch::Contains("missing"));
  ::unsetenv("LIL_SHARED_DIR");
  CHECK(fs::equivalent(lil::resolve_shared_dir(kSourceDir), fs::path(kSourceDir) / ".." / "shared"));
  if (original) ::setenv("LIL_SHARED_DIR", saved.c_str(), 1);
  fs::remove_all(scratch);
}
