#pragma once
// Equality of two parsed expressions: exact for rational numbers, GiNaC simplification of the difference,
// and evaluation at random points (high precision) both as a fast rejection and as the proof for
// identities GiNaC does not simplify (trigonometry). Callers hold ginac_mutex().
#include <string>

#include "datasets/latex_expression.h"

namespace lil {

struct ValueComparison {
  bool equal = false;
  std::string method;  // "numeric", "symbolic", "sampled" or "different"
};

// `decimal_relative_tolerance` applies when a decimal literal on one side meets a value with no finite
// decimal form on the other (0.3333 vs 1/3, 3.1416 vs pi); everything else must agree to ~25 digits.
ValueComparison compare_values(const ParsedExpression& a, const ParsedExpression& b, const SymbolTable& symbols,
                               double decimal_relative_tolerance);

// Two equations lhs1 = rhs1 and lhs2 = rhs2 describe the same relation when (lhs1 - rhs1) is a nonzero
// constant multiple of (lhs2 - rhs2): "5x - 7y + 4 = 0" and "-10x + 14y = 8".
ValueComparison compare_equations(const GiNaC::ex& difference_a, const GiNaC::ex& difference_b,
                                  const SymbolTable& symbols);

}  // namespace lil
