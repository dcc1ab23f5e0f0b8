// Grading on the real benchmark files: every gold solution must grade as correct against its own gold
// answer (MATH-500 at least 99%, the others 100%), and gold answers of different problems must not be
// found equal unless they are the same answer. Disagreements are listed with WARN.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "core/json_util.h"
#include "datasets/answer_normalization.h"
#include "datasets/data_paths.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;

std::string real_file(const std::string& kind) {
  return lil::resolve_shared_dir(kSourceDir) + "/" + lil::find_dataset_kind(kind).default_path;
}

std::vector<lil::Problem> load_real(const std::string& kind) {
  lil::DatasetSpec spec;
  spec.name = kind;
  spec.path = real_file(kind);
  return lil::load_dataset(spec);
}

// The raw JSON text of each record's answer field ("27.0", "\"025\"", "70"), before the loader's clean-up.
std::vector<lil::json> raw_answers(const std::string& kind) {
  std::vector<lil::json> answers;
  const std::string text = lil::read_text_file(real_file(kind));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) answers.push_back(lil::json::parse(text.substr(start, end - start)).at("answer"));
    start = end + 1;
  }
  return answers;
}

}  // namespace

TEST_CASE("MATH-500: the boxed answer of each gold solution grades as its answer field", "[acceptance][real]") {
  const auto problems = load_real("math500");
  REQUIRE(problems.size() == 500);
  size_t agree = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& p : problems) {
    const lil::Verdict verdict = lil::grade("math500", p.solution, p.gold_answer, /*strict=*/true);
    if (verdict.correct) {
      ++agree;
    } else {
      WARN("MATH-500 disagreement " << p.id << ": extracted '" << verdict.extracted.value_or("<none>")
                                    << "' vs answer '" << p.gold_answer << "' (" << verdict.method << ")");
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "MATH-500 gold solutions: " << agree << "/500 agree; " << 500 / seconds << " solutions graded/s\n";
  CHECK(agree >= 495);
}

TEST_CASE("MATH-500: answers of different problems are not found equal", "[acceptance][real]") {
  // A false-positive check on real answers: compare each answer with those of other problems. Equal
  // verdicts are allowed only where the normalised answers are the same text (two problems answering 3).
  const auto problems = load_real("math500");
  size_t compared = 0, spurious = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < problems.size(); ++i) {
    for (const size_t shift : {1, 7, 31, 101}) {
      const auto& a = problems[i].gold_answer;
      const auto& b = problems[(i + shift) % problems.size()].gold_answer;
      const lil::Equivalence result = lil::compare_answers(a, b);
      ++compared;
      if (result.equal && lil::normalize_answer(a) != lil::normalize_answer(b)) {
        ++spurious;
        WARN("equal but different text: '" << a << "' vs '" << b << "' (" << result.method << ")");
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "MATH-500 cross-problem comparisons: " << compared << " in " << seconds << " s ("
            << compared / seconds << "/s), " << spurious << " equal with different text\n";
  CHECK(spurious == 0);
}

TEST_CASE("MATH-500: each answer equals its rewritten forms", "[acceptance][real]") {
  // The same answer typed differently must still match: inside $...$, \boxed{}, with \dfrac, and with
  // every space removed or doubled.
  const auto problems = load_real("math500");
  size_t failures = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& p : problems) {
    std::string dfrac = p.gold_answer, spaced;
    for (size_t pos = 0; (pos = dfrac.find("\\frac", pos)) != std::string::npos; pos += 6) dfrac.replace(pos, 5, "\\dfrac");
    for (const char c : p.gold_answer) spaced += c == ' ' ? std::string("  ") : std::string(1, c);
    for (const std::string& form : {"$" + p.gold_answer + "$", "\\boxed{" + p.gold_answer + "}", dfrac, spaced}) {
      if (!lil::answers_equivalent(form, p.gold_answer)) {
        ++failures;
        WARN("MATH-500 " << p.id << ": '" << form << "' not equal to '" << p.gold_answer << "'");
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "MATH-500 rewritten forms: " << 4 * problems.size() / seconds << " comparisons/s\n";
  CHECK(failures == 0);
}

TEST_CASE("GSM8K: every gold solution grades as its #### answer", "[acceptance][real]") {
  const auto problems = load_real("gsm8k");
  REQUIRE(problems.size() == 1319);
  size_t agree = 0;
  for (const auto& p : problems) {
    const lil::Verdict verdict = lil::grade("gsm8k", p.solution, p.gold_answer, /*strict=*/true);
    if (verdict.correct && verdict.source == lil::ExtractionSource::hash_marker) {
      ++agree;
    } else {
      WARN("GSM8K " << p.id << ": extracted '" << verdict.extracted.value_or("<none>") << "' vs '"
                    << p.gold_answer << "'");
    }
    // The separator-free number and a boxed answer grade the same way.
    std::string plain = p.gold_answer;
    plain.erase(std::remove(plain.begin(), plain.end(), ','), plain.end());
    CHECK(lil::grade("gsm8k", "The answer is $\\boxed{" + plain + "}$.", p.gold_answer).correct);
  }
  CHECK(agree == problems.size());
}

TEST_CASE("AIME and AMC gold answers match their alternative forms", "[acceptance][real]") {
  for (const std::string kind : {"aime24", "aime25", "amc23"}) {
    const auto problems = load_real(kind);
    const auto raw = raw_answers(kind);
    REQUIRE(raw.size() == problems.size());
    for (size_t i = 0; i < problems.size(); ++i) {
      const std::string& gold = problems[i].gold_answer;
      const long value = std::lround(std::stod(gold));
      INFO(kind << " " << problems[i].id << ": gold '" << gold << "', raw " << raw[i].dump());
      // The value as a plain integer, zero-padded to three digits, as a float, and the file's own text.
      const std::string padded = (value >= 0 && value < 100 ? std::string(value < 10 ? "00" : "0") : "") +
                                 std::to_string(value);
      const std::string raw_text = raw[i].is_string() ? raw[i].get<std::string>() : raw[i].dump();
      for (const std::string& form : {std::to_string(value), padded, std::to_string(value) + ".0", raw_text}) {
        CHECK(lil::answers_equivalent(form, gold));
        CHECK(lil::grade(kind, "So the answer is \\boxed{" + form + "}.", gold, /*strict=*/true).correct);
      }
      CHECK_FALSE(lil::answers_equivalent(std::to_string(value + 1), gold));
      CHECK_FALSE(lil::answers_equivalent(std::to_string(value * 10), gold));
    }
  }
}

TEST_CASE("AIME 2024: the last boxed answer of the AoPS solutions is the gold answer", "[acceptance][real]") {
  size_t agree = 0;
  const auto problems = load_real("aime24");
  for (const auto& p : problems) {
    const lil::Verdict verdict = lil::grade("aime24", p.solution, p.gold_answer, /*strict=*/true);
    if (verdict.correct) {
      ++agree;
    } else {
      WARN("AIME 2024 " << p.id << ": extracted '" << verdict.extracted.value_or("<none>") << "' vs '"
                        << p.gold_answer << "'");
    }
  }
  CHECK(agree == problems.size());
}
