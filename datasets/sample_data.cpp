// Generated from datasets/samples/*.jsonl; edit the .jsonl file and paste it here (a test compares them).
#include "datasets/sample_data.h"

#include <map>

namespace lil {
namespace {

const std::map<std::string, std::string>& samples() {
  static const std::map<std::string, std::string> by_kind = {
      {"gsm8k", R"lil_sample({"question": "A baker fills 7 trays with 12 rolls each and sells all but 9 of the rolls. How many rolls does the baker sell?", "answer": "The baker makes 7 * 12 = <<7*12=84>>84 rolls.\nShe sells 84 - 9 = <<84-9=75>>75 rolls.\n#### 75"}
{"question": "A town library has 1,200 books. It buys 850 more and then gives 75 away. How many books does the library have now?", "answer": "After buying, it has 1,200 + 850 = <<1200+850=2050>>2,050 books.\nAfter giving some away, it has 2,050 - 75 = <<2050-75=1975>>1,975 books.\n#### 1,975"}
{"question": "The temperature was 4 degrees at noon and fell by 11 degrees before midnight. What was the temperature at midnight, in degrees?", "answer": "The temperature at midnight was 4 - 11 = <<4-11=-7>>-7 degrees.\n#### -7"}
{"question": "Mia buys 3 notebooks for $2.50 each and a pen for $1.50. She pays with a $10 bill. How much change does she get, in dollars?", "answer": "The notebooks cost 3 * 2.50 = $<<3*2.5=7.5>>7.50.\nEverything costs 7.50 + 1.50 = $<<7.5+1.5=9>>9.\nHer change is 10 - 9 = $<<10-9=1>>1.\n#### 1"}
)lil_sample"},
      {"math500", R"lil_sample({"problem": "What is $\\frac{3}{4} + \\frac{1}{6}$? Express your answer as a common fraction.", "solution": "A common denominator is $12$, so the sum is $\\frac{9}{12} + \\frac{2}{12} = \\boxed{\\frac{11}{12}}$.", "answer": "\\frac{11}{12}", "subject": "Prealgebra", "level": 1, "unique_id": "sample/prealgebra/1.json"}
{"problem": "Find all real numbers $x$ such that $x^2 - 5x + 6 = 0$. Enter all the solutions, separated by commas.", "solution": "The quadratic factors as $(x - 2)(x - 3) = 0$, so the solutions are $\\boxed{2, 3}$.", "answer": "2, 3", "subject": "Algebra", "level": 2, "unique_id": "sample/algebra/2.json"}
{"problem": "Simplify $\\sqrt{72}$.", "solution": "Since $72 = 36 \\cdot 2$, we have $\\sqrt{72} = \\sqrt{36}\\sqrt{2} = \\boxed{6\\sqrt{2}}$.", "answer": "6\\sqrt{2}", "subject": "Prealgebra", "level": 2, "unique_id": "sample/prealgebra/3.json"}
{"problem": "For which real numbers $x$ is $\\frac{1}{x - 1} > 0$? Express your answer in interval notation.", "solution": "The fraction is positive exactly when its denominator is positive, that is when $x > 1$. The answer is $\\boxed{(1, \\infty)}$.", "answer": "(1, \\infty)", "subject": "Intermediate Algebra", "level": 2, "unique_id": "sample/intermediate_algebra/4.json"}
{"problem": "Compute $\\begin{pmatrix} 1 & 2 \\\\ 0 & 1 \\end{pmatrix} \\begin{pmatrix} 3 \\\\ 4 \\end{pmatrix}$.", "solution": "We have $\\begin{pmatrix} 1 \\cdot 3 + 2 \\cdot 4 \\\\ 0 \\cdot 3 + 1 \\cdot 4 \\end{pmatrix} = \\boxed{\\begin{pmatrix} 11 \\\\ 4 \\end{pmatrix}}$.", "answer": "\\begin{pmatrix} 11 \\\\ 4 \\end{pmatrix}", "subject": "Precalculus", "level": 1, "unique_id": "sample/precalculus/5.json"}
)lil_sample"},
      {"aime24", R"lil_sample({"id":0,"problem":"Find the remainder when $2^{10} + 3^{5}$ is divided by $1000$.","solution":"We have $2^{10} + 3^5 = 1024 + 243 = 1267$, which leaves remainder $\\boxed{267}$.","answer":"267","url":"sample","question":"Find the remainder when $2^{10} + 3^{5}$ is divided by $1000$."}
{"id":1,"problem":"Find the number of positive divisors of $360$.","solution":"Since $360 = 2^3 \\cdot 3^2 \\cdot 5$, it has $(3+1)(2+1)(1+1) = \\boxed{024}$ positive divisors.","answer":"024","url":"sample","question":"Find the number of positive divisors of $360$."}
{"id":2,"problem":"Find the number of ordered pairs of positive integers $(a, b)$ with $a + b = 10$.","solution":"Any $a$ from $1$ to $9$ gives a positive $b = 10 - a$, so there are $\\boxed{009}$ pairs.","answer":"009","url":"sample","question":"Find the number of ordered pairs of positive integers $(a, b)$ with $a + b = 10$."}
)lil_sample"},
      {"aime25", R"lil_sample({"prompt": "Find the sum of the digits of $2^{12}$.\nPlease reason step by step, and put your final answer within \\boxed{}.", "answer": 19}
{"prompt": "Let $S$ be the set of integers $n$ with $1 \\le n \\le 100$ that are divisible by $6$ or by $10$. Find the number of elements of $S$.\nPlease reason step by step, and put your final answer within \\boxed{}.", "answer": 23}
{"prompt": "A rectangle has perimeter $50$ and area $150$. Find the square of the length of its diagonal.\nPlease reason step by step, and put your final answer within \\boxed{}.", "answer": 325}
)lil_sample"},
      {"amc23", R"lil_sample({"id":0,"problem":"What is the smallest positive integer $n$ such that $n^2 > 2023$?","answer":45.0,"url":"sample","question":"What is the smallest positive integer $n$ such that $n^2 > 2023$?"}
{"id":1,"problem":"A line passes through the points $(1,2)$ and $(3,8)$. What is its $y$-intercept?","answer":-1.0,"url":"sample","question":"A line passes through the points $(1,2)$ and $(3,8)$. What is its $y$-intercept?"}
{"id":2,"problem":"The sum of three consecutive odd integers is $51$. What is the largest of the three?","answer":19.0,"url":"sample","question":"The sum of three consecutive odd integers is $51$. What is the largest of the three?"}
)lil_sample"},
      {"jsonl", R"lil_sample({"id": "g1", "question": "What is $12 \\times 13$?", "answer": "156"}
{"id": "g2", "question": "Solve for $x$: $2x + 3 = 11$.", "answer": "4"}
{"id": "g3", "question": "Write $0.75$ as a common fraction.", "answer": "\\frac{3}{4}"}
)lil_sample"},
  };
  return by_kind;
}

}  // namespace

std::string sample_file_path(const std::string& kind_name) { return "datasets/samples/" + kind_name + ".jsonl"; }

std::optional<std::string> embedded_sample_text(const std::string& kind_name) {
  const auto it = samples().find(kind_name);
  if (it == samples().end()) return std::nullopt;
  return it->second;
}

}  // namespace lil
