#pragma once
// LaTeX math as written in final answers -> GiNaC expression: \frac, \sqrt[n]{}, ^, implicit
// multiplication, \pi, e, i, \cdot, \times, /, parentheses, |x|, !, \binom, trigonometric functions and
// logarithms, mixed numbers ("1\frac{4}{5}"). Numbers stay exact (0.5 is 1/2). GiNaC cannot be
// interrupted, so the parser refuses input whose evaluation could run away: long text, deep nesting,
// large exponents and factorials, exact powers with too many digits.
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <ginac/ginac.h>

namespace lil {

struct ExpressionLimits {
  size_t max_chars = 600;
  int max_exponent = 1000;           // |numerator| and denominator of a numeric exponent
  double max_result_digits = 10000;  // digits of an exact power or factorial computed while parsing
  int max_depth = 64;                // nesting of groups
};

// Symbols by name, shared by the two sides of a comparison so that "x" is the same symbol in both.
using SymbolTable = std::map<std::string, GiNaC::symbol>;

struct ParsedExpression {
  GiNaC::ex value;
  bool has_decimal = false;  // a decimal literal was written ("0.33"): possibly an approximation
};

// nullopt when the text is not a single expression this converter understands (lists, relations,
// text, base-n numbers like 204_5) or exceeds the limits.
std::optional<ParsedExpression> parse_latex_expression(const std::string& latex, SymbolTable& symbols,
                                                       const ExpressionLimits& limits = {});

// GiNaC keeps global state (Digits, caches): every use in lil holds this lock.
std::mutex& ginac_mutex();

}  // namespace lil
