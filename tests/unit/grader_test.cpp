// Answer extraction, normalisation and equivalence on hand-written cases (the real-data acceptance runs are
// in dataset_acceptance_test.cpp). The equivalence table covers every normalisation rule with at least one
// case that must match and one trap that must not.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "datasets/answer_normalization.h"
#include "datasets/grader.h"
#include "datasets/latex_expression.h"

namespace {

struct ExtractionCase {
  const char* output;
  std::optional<std::string> expected;
  const char* source;
};

struct EquivalenceCase {
  const char* predicted;
  const char* gold;
  bool equal;
  const char* rule;
};

lil::ExtractOptions gsm8k_options() {
  lil::ExtractOptions options;
  options.allow_hash_marker = true;
  return options;
}

}  // namespace

TEST_CASE("extract_answer finds the final answer in model outputs", "[grader][extract]") {
  const std::vector<ExtractionCase> cases = {
      {"So the answer is $\\boxed{42}$.", "42", "boxed"},
      {"First \\boxed{1}, then corrected: \\boxed{2}", "2", "boxed"},
      {"\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "boxed"},
      {"nested \\boxed{\\left(\\frac{a}{b}, \\sqrt{\\frac{1}{2}}\\right)} done", "\\left(\\frac{a}{b}, \\sqrt{\\frac{1}{2}}\\right)", "boxed"},
      {"a set \\boxed{\\{1, 2\\}} here", "\\{1, 2\\}", "boxed"},
      {"\\fbox{7} is it", "7", "boxed"},
      {"We get $\\boxed 5$.", "5", "boxed"},
      {"Empty \\boxed{} from the instruction, then \\boxed{9}", "9", "boxed"},
      {"put it within \\boxed{}. The answer is 12.", "12", "answer-phrase"},
      {"The answer is 17.", "17", "answer-phrase"},
      {"Therefore, the final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}", "answer-phrase"},
      {"**Final Answer:** 3.5 meters.", "3.5 meters", "answer-phrase"},
      {"Final Answer\n$x = 2$", "x = 2", "answer-phrase"},
      {"I computed 3 and 4, so maybe 7", "7", "last-number"},
      {"The total is 1,234 dollars", "1,234", "last-number"},
      {"The result is -5", "-5", "last-number"},
      {"3/4 of the cake", "3/4", "last-number"},
      {"x-5", "5", "last-number"},
      {"no digits at all", std::nullopt, ""},
      {"<think>maybe \\boxed{3}</think>The answer is \\boxed{4}.", "4", "boxed"},
      {"<think>draft \\boxed{3}</think>So it is 4 apples", "3", "boxed"},
      {"<think>I think 3</think>The answer is 4", "4", "answer-phrase"},
  };
  for (const auto& c : cases) {
    INFO("output: " << c.output);
    const auto found = lil::extract_answer_detailed(c.output);
    if (!c.expected) {
      CHECK_FALSE(found.has_value());
      continue;
    }
    REQUIRE(found.has_value());
    CHECK(found->answer == *c.expected);
    CHECK(std::string(lil::extraction_source_name(found->source)) == c.source);
  }
}

TEST_CASE("extract_answer options: #### marker, strict mode, think marker", "[grader][extract]") {
  const std::string gsm8k_output = "She makes 9 * 2 = $<<9*2=18>>18.\n#### 18";
  CHECK(lil::extract_answer(gsm8k_output, gsm8k_options()) == std::optional<std::string>("18"));
  const auto no_hash = lil::extract_answer_detailed(gsm8k_output);  // other kinds: last number, not the marker
  REQUIRE(no_hash.has_value());
  CHECK(no_hash->source == lil::ExtractionSource::last_number);

  lil::ExtractOptions strict;
  strict.last_number_fallback = false;
  CHECK_FALSE(lil::extract_answer("I computed 3 and 4, so maybe 7", strict).has_value());
  CHECK(lil::extract_answer("so \\boxed{7}", strict) == std::optional<std::string>("7"));
  // An output cut off inside \boxed{ has no boxed answer (the fallback would take its last number).
  CHECK_FALSE(lil::extract_answer("Cut off: \\boxed{12", strict).has_value());
  CHECK(lil::extract_answer("Cut off: \\boxed{12") == std::optional<std::string>("12"));

  lil::ExtractOptions custom_think;
  custom_think.think_end = "[/REASON]";
  CHECK(lil::extract_answer("\\boxed{1}[/REASON]The answer is 2", custom_think) == std::optional<std::string>("2"));
  // Without a think marker the whole text is one region, and boxed beats a phrase wherever it is.
  custom_think.think_end.clear();
  CHECK(lil::extract_answer("\\boxed{1}</think>The answer is 2", custom_think) == std::optional<std::string>("1"));
}

TEST_CASE("normalize_answer applies the string rules", "[grader][normalize]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"$\\dfrac{1}{2}$", "\\frac{1}{2}"},
      {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
      {"10,\\!080", "10080"},
      {"\\$32,\\!348", "32348"},
      {"15\\mbox{ cm}^2", "15"},
      {"5.4 \\text{ cents}", "5.4"},
      {"\\text{Evelyn}", "Evelyn"},
      {"106^\\circ", "106"},
      {"50\\%", "50"},
      {"x = 5", "5"},
      {"x \\in [-2,7]", "[-2,7]"},
      {".0000672", "0.0000672"},
      {"4210_{5}", "4210_5"},
      {"\\text{(B)}", "B"},
      {"\\cot x", "\\cot x"},
      {"27 miles", "27"},
      {"15 square units", "15"},
      {"2m", "2m"},
      {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"},
      {"(-\\infty, \\infty)", "\\mathbb{R}"},
      {"3 and 5", "3,5"},
  };
  for (const auto& [raw, normalized] : cases) {
    INFO("raw: " << raw);
    CHECK(lil::normalize_answer(raw) == normalized);
  }
}

TEST_CASE("answers_equivalent: normalisation rules and false-positive traps", "[grader][equivalence]") {
  const std::vector<EquivalenceCase> cases = {
      // integers, leading zeros (AIME), floats (AMC), signs
      {"25", "025", true, "leading zeros"},
      {"027", "27.0", true, "leading zeros vs float"},
      {"27.00", "27", true, "trailing decimal zeros"},
      {"-1", "-1.0", true, "negative float"},
      {"-7", "7", false, "sign matters"},
      {"10", "100", false, "trap: 10 is not 100"},
      {"2", "2.5", false, "trap: 2 is not 2.5"},
      {"10000", "10001", false, "no loose relative tolerance on integers"},
      // thousands separators, currency, percent, units, degrees
      {"1,450,000", "1450000", true, "thousands separators"},
      {"11,\\! 111,\\! 111,\\! 100", "11111111100", true, "TeX thin-space thousands"},
      {"1,2", "12", false, "trap: a list is not a number with separators"},
      {"\\$18.90", "18.9", true, "dollar sign"},
      {"$36", "36", true, "bare dollar"},
      {"50\\%", "50", true, "percent"},
      {"15\\mbox{ cm}^2", "15", true, "unit in \\mbox with exponent"},
      {"5.4 \\text{ cents}", "5.4", true, "unit in \\text"},
      {"864 \\mbox{ inches}^2", "864", true, "inches squared"},
      {"27 miles", "27", true, "bare unit word"},
      {"90^\\circ", "90", true, "degrees"},
      {"90^{\\circ}", "90^\\circ", true, "degrees, braced"},
      {"\\frac{270}7\\text{ degrees}", "\\frac{270}{7}", true, "fraction with unit"},
      // fractions, decimals, mixed numbers
      {"0.5", "\\frac{1}{2}", true, "decimal vs fraction"},
      {"1/2", "\\frac12", true, "slash vs \\frac12"},
      {"1/2", "12", false, "trap: 1/2 is not 12"},
      {"\\dfrac{17}{50}", "0.34", true, "dfrac vs decimal"},
      {"\\tfrac{3}{4}", "\\frac{3}{4}", true, "tfrac"},
      {"\\frac 34", "0.75", true, "\\frac with single-character arguments"},
      {"\\frac9{19}", "\\frac{9}{19}", true, "\\frac mixed argument forms"},
      {"137 \\frac{1}{2}", "137.5", true, "mixed number"},
      {"1\\frac{4}{5}", "\\frac{9}{5}", true, "mixed number, no space"},
      {"0.3333", "\\frac{1}{3}", true, "decimal approximation of a repeating fraction"},
      {"0.33", "\\frac{1}{3}", false, "too coarse an approximation"},
      {"0.34", "\\frac{17}{50}", true, "exact decimal"},
      {"0.341", "\\frac{17}{50}", false, "exact rationals compare exactly"},
      {".35625", "0.35625", true, "leading dot"},
      // radicals, pi, constants, complex numbers
      {"6\\sqrt{2}", "\\sqrt{72}", true, "simplified radical"},
      {"\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", true, "rationalised denominator"},
      {"\\sqrt[3]{8}", "2", true, "cube root"},
      {"\\sqrt{2}", "2", false, "trap: sqrt 2 is not 2"},
      {"11\\sqrt2", "11 \\sqrt{2}", true, "\\sqrt without braces"},
      {"2\\sqrt{5}", "\\sqrt{5}", false, "radical coefficient"},
      {"12\\pi", "12 \\pi", true, "pi"},
      {"3.1416", "\\pi", true, "decimal approximation of pi"},
      {"3.14", "\\pi", false, "too coarse for pi"},
      {"\\frac{20000}{\\pi}", "20000/\\pi", true, "pi in a denominator"},
      {"-2 + 7i", "7i - 2", true, "complex number"},
      {"1+2i", "1-2i", false, "conjugate"},
      {"e^{i\\pi}", "-1", true, "Euler"},
      // polynomials and expressions
      {"x^2", "x^3", false, "trap: x^2 is not x^3"},
      {"(a+5)(b+2)", "ab + 2a + 5b + 10", true, "expanded product"},
      {"2k+2", "2(k+1)", true, "factored"},
      {"3R^2", "3r^2", false, "variables are case-sensitive"},
      {"x^5 - x^4 + x^3 - x^2 + x - 1", "(x-1)(x^4+x^2+1)", true, "factorisation"},
      {"\\frac{11+9a}{20}", "\\frac{11}{20} + \\frac{9a}{20}", true, "split fraction"},
      {"\\cot x", "\\frac{\\cos x}{\\sin x}", true, "trigonometric identity"},
      {"\\sin^2 x + \\cos^2 x", "1", true, "identity GiNaC does not simplify: sampled"},
      {"\\sin x", "\\cos x", false, "different functions"},
      {"x^{10}", "x^{1}0", false, "a braced superscript ends at its brace"},
      {"2^10", "1024", true, "an unbraced multi-digit exponent"},
      // equations and assignments
      {"x = 3", "3", true, "x = 3 vs 3"},
      {"y = 2x + 3", "2x+3", true, "y = expression"},
      {"k = 3", "x = 4", false, "different values"},
      {"5x - 7y + 11z + 4 = 0", "-10x + 14y - 22z - 8 = 0", true, "plane equation up to a factor"},
      {"5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0", false, "different plane"},
      // tuples, intervals, sets, lists, unions, matrices
      {"(1,2)", "[1,2]", false, "trap: open vs closed brackets"},
      {"(1, 2)", "\\left( 1, 2 \\right)", true, "tuple with \\left/\\right"},
      {"(2,1)", "(1,2)", false, "tuples are ordered"},
      {"(3,\\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", true, "polar coordinates"},
      {"(3,4]", "(3, 4]", true, "half-open interval"},
      {"[3,4)", "(3,4]", false, "interval ends"},
      {"(-\\infty, 0]", "(-\\infty,0]", true, "infinite interval"},
      {"(-\\infty, 0]", "(\\infty, 0]", false, "sign of infinity"},
      {"(3, \\infty) \\cup (-\\infty, 2)", "(-\\infty, 2) \\cup (3, \\infty)", true, "union order"},
      {"3, 5, 7", "7,3,5", true, "unordered list"},
      {"3, 5", "3, 5, 7", false, "list length"},
      {"\\{1,2\\}", "\\{2,1\\}", true, "set order"},
      {"1 \\pm \\sqrt{19}", "1 + \\sqrt{19}, 1 - \\sqrt{19}", true, "plus-minus"},
      {"\\{1\\pm\\sqrt{5},-2\\}", "-2, 1-\\sqrt5, 1+\\sqrt5", true, "set with plus-minus"},
      {"1, 2", "(1, 2)", true, "tuple without its parentheses"},
      {"x=1, y=2", "(1, 2)", true, "assignments inside a list"},
      {"x=2, y=1", "(1, 2)", false, "assignments in the wrong order"},
      {"\\mathbb R", "(-\\infty, \\infty)", true, "all reals"},
      {"\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\end{pmatrix}", true, "matrix cells"},
      {"\\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", true, "bmatrix"},
      {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", false, "matrix order"},
      {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)", true, "column vector as tuple"},
      // text answers, choices, bases
      {"\\text{Evelyn}", "Evelyn", true, "\\text"},
      {"east", "\\text{East}", true, "word case"},
      {"even", "neve", false, "words are not products of variables"},
      {"(B)", "\\text{(B)}", true, "choice letter"},
      {"B", "C", false, "different choice"},
      {"204_5", "204_{5}", true, "base subscript"},
      {"204_5", "54", false, "a base-5 numeral is not its decimal value"},
      // spacing commands
      {"a\\,b", "ab", true, "thin space"},
      {"\\displaystyle\\frac{1}{2}", "0.5", true, "displaystyle"},
  };
  REQUIRE(cases.size() >= 60);
  for (const auto& c : cases) {
    const lil::Equivalence result = lil::compare_answers(c.predicted, c.gold);
    INFO(c.rule << ": '" << c.predicted << "' vs '" << c.gold << "' -> " << result.method);
    CHECK(result.equal == c.equal);
    // Equivalence is symmetric.
    CHECK(lil::answers_equivalent(c.gold, c.predicted) == c.equal);
  }
}

TEST_CASE("comparisons that could run away are bounded", "[grader][limits]") {
  // GiNaC would compute these exactly and never return; the parser refuses them, so they compare as text.
  CHECK_FALSE(lil::answers_equivalent("2^{10000000}", "2"));
  CHECK_FALSE(lil::answers_equivalent("10^{10^{10}}", "1"));
  CHECK_FALSE(lil::answers_equivalent("100000!", "1"));
  CHECK(lil::answers_equivalent("2^{10000000}", "2^{10000000}"));  // identical text still matches
  CHECK(lil::answers_equivalent("2^{10}", "1024"));
  CHECK(lil::answers_equivalent("10!", "3628800"));
  // Expansion of large powers is skipped, sampling still decides.
  CHECK(lil::answers_equivalent("(x+1)^{200}", "(1+x)^{200}"));
  CHECK_FALSE(lil::answers_equivalent("(x+1)^{200}", "(x+1)^{201}"));
  // Nesting deeper than the limit is refused rather than recursed into.
  std::string deep = "1";
  for (int i = 0; i < 200; ++i) deep = "(" + deep + ")";
  CHECK_FALSE(lil::answers_equivalent(deep, "2"));
  const std::string long_answer(5000, '7');
  CHECK_FALSE(lil::answers_equivalent(long_answer, "7"));
  CHECK(lil::answers_equivalent(long_answer, long_answer));
  CHECK_FALSE(lil::answers_equivalent("\\frac{1}{0}", "1"));
  CHECK_FALSE(lil::answers_equivalent("", ""));
}

TEST_CASE("parse_latex_expression: structure of the converter", "[grader][latex]") {
  std::lock_guard<std::mutex> lock(lil::ginac_mutex());
  lil::SymbolTable symbols;
  const auto value = [&](const std::string& text) {
    auto parsed = lil::parse_latex_expression(text, symbols);
    REQUIRE(parsed.has_value());
    return parsed->value;
  };
  CHECK(value("\\frac{1}{2}") == GiNaC::ex(GiNaC::numeric(1, 2)));
  CHECK(value("0.25") == GiNaC::ex(GiNaC::numeric(1, 4)));
  CHECK(value("2^10") == GiNaC::ex(GiNaC::numeric(1024)));  // a number after ^ is whole, as sympy reads it
  CHECK(value("\\frac123") == GiNaC::ex(GiNaC::numeric(3, 2)));  // \frac takes single digits, as TeX
  CHECK(value("2^{10}") == GiNaC::ex(GiNaC::numeric(1024)));
  CHECK(value("3\\cdot 4\\times 5") == GiNaC::ex(GiNaC::numeric(60)));
  CHECK(value("\\binom{5}{2}") == GiNaC::ex(GiNaC::numeric(10)));
  CHECK(value("|-3|") == GiNaC::ex(GiNaC::numeric(3)));
  CHECK(value("i^2") == GiNaC::ex(GiNaC::numeric(-1)));
  CHECK(lil::parse_latex_expression("0.5", symbols)->has_decimal);
  CHECK_FALSE(lil::parse_latex_expression("\\frac12", symbols)->has_decimal);
  for (const char* rejected : {"204_5", "(1,2)", "x = 3", "\\text{east}", "east", "1 \\cup 2", "\\unknown{3}", "2^"}) {
    INFO(rejected);
    CHECK_FALSE(lil::parse_latex_expression(rejected, symbols).has_value());
  }
}

TEST_CASE("grade() uses the kind's extraction and number handling", "[grader][grade]") {
  auto verdict = lil::grade("gsm8k", "So she has 18 eggs.\n#### 18", "18");
  CHECK(verdict.correct);
  CHECK(verdict.source == lil::ExtractionSource::hash_marker);

  verdict = lil::grade("gsm8k", "The answer is 1,450,000 dollars.", "1,450,000");
  CHECK(verdict.correct);
  CHECK(verdict.extracted == std::optional<std::string>("1,450,000 dollars"));

  verdict = lil::grade("gsm8k", "\\boxed{18 \\text{ eggs}}", "18");
  CHECK(verdict.correct);

  verdict = lil::grade("aime24", "<think>... 24 ...</think> The answer is $\\boxed{24}$.", "024");
  CHECK(verdict.correct);
  CHECK(verdict.method == "numeric");

  verdict = lil::grade("amc23", "\\boxed{27.0}", "27");
  CHECK(verdict.correct);

  verdict = lil::grade("math500", "So the ratio is 7 to 3", "\\frac{7}{3}");
  CHECK_FALSE(verdict.correct);  // last-number fallback finds 3
  CHECK(verdict.extracted == std::optional<std::string>("3"));

  verdict = lil::grade("math500", "I could not finish", "2", /*strict=*/true);
  CHECK_FALSE(verdict.extracted.has_value());
  CHECK_FALSE(verdict.correct);
  CHECK(verdict.method == "no-answer");

  // Math answers keep their words: "2 apples" is not how MATH states 2, but a \text unit is dropped.
  CHECK_FALSE(lil::grade("math500", "\\boxed{x y z w}", "xyzw").correct);
  CHECK_THROWS_WITH(lil::grade("nope", "1", "1"), Catch::Contains("unknown data set"));
}
