#include "datasets/value_comparison.h"

#include <random>
#include <vector>

namespace lil {
namespace {

using GiNaC::ex;
using GiNaC::numeric;

constexpr int kEvaluationDigits = 40;
constexpr double kExactRelativeTolerance = 1e-25;
constexpr int kSamplePoints = 6;
constexpr int kRequiredConclusivePoints = 3;
// Exact simplification (normal()) expands polynomials: only for expressions this small.
constexpr size_t kMaxNodesForSimplification = 400;
constexpr long kMaxSymbolicExponentForSimplification = 40;

// GiNaC's precision is a global; restore it for whoever else uses GiNaC in the process.
class DigitsScope {
 public:
  explicit DigitsScope(long digits) : saved_(GiNaC::Digits) { GiNaC::Digits = digits; }
  ~DigitsScope() { GiNaC::Digits = saved_; }

 private:
  long saved_;
};

std::vector<GiNaC::symbol> free_symbols(const ex& a, const ex& b, const SymbolTable& symbols) {
  std::vector<GiNaC::symbol> found;
  for (const auto& [name, symbol] : symbols) {
    if (a.has(symbol) || b.has(symbol)) found.push_back(symbol);
  }
  return found;
}

std::optional<numeric> evaluate(const ex& value, const GiNaC::exmap& point) {
  try {
    const ex result = (point.empty() ? value : value.subs(point)).evalf();
    if (!GiNaC::is_a<numeric>(result)) return std::nullopt;
    return GiNaC::ex_to<numeric>(result);
  } catch (const std::exception&) {
    return std::nullopt;  // a pole at this point
  }
}

bool close(const numeric& a, const numeric& b, double relative_tolerance) {
  const numeric scale = std::max({numeric(1), GiNaC::abs(a), GiNaC::abs(b)});
  return GiNaC::abs(a - b) <= numeric(relative_tolerance) * scale;
}

bool small_enough_to_simplify(const ex& value) {
  size_t nodes = 0;
  for (auto it = value.preorder_begin(); it != value.preorder_end(); ++it) {
    if (++nodes > kMaxNodesForSimplification) return false;
    if (GiNaC::is_a<GiNaC::power>(*it) && !GiNaC::is_a<numeric>(it->op(0)) && GiNaC::is_a<numeric>(it->op(1))) {
      const numeric exponent = GiNaC::ex_to<numeric>(it->op(1));
      if (GiNaC::abs(exponent.numer()) > numeric(kMaxSymbolicExponentForSimplification)) return false;
    }
  }
  return true;
}

bool simplifies_to_zero(const ex& difference) {
  if (difference.is_zero()) return true;
  if (!small_enough_to_simplify(difference)) return false;
  try {
    return difference.normal().is_zero();
  } catch (const std::exception&) {
    return false;
  }
}

// A value with a finite decimal form: a rational whose reduced denominator has no prime factor but 2 and 5.
bool has_finite_decimal_form(const ex& value) {
  if (!GiNaC::is_a<numeric>(value)) return false;
  const numeric n = GiNaC::ex_to<numeric>(value);
  if (!n.is_rational()) return false;
  numeric denominator = n.denom();
  for (const long prime : {2L, 5L}) {
    while (GiNaC::irem(denominator, numeric(prime)).is_zero()) denominator = denominator / prime;
  }
  return denominator == numeric(1);
}

bool is_rational_number(const ex& value) {
  return GiNaC::is_a<numeric>(value) && GiNaC::ex_to<numeric>(value).is_rational();
}

GiNaC::exmap random_point(const std::vector<GiNaC::symbol>& symbols, std::mt19937& rng) {
  // Positive values away from 0 and 1, where square roots, logarithms and denominators behave.
  std::uniform_int_distribution<long> numerator(101, 997);
  GiNaC::exmap point;
  for (const auto& symbol : symbols) point[symbol] = numeric(numerator(rng), 401);
  return point;
}

ValueComparison compare_constants(const ParsedExpression& a, const ParsedExpression& b, double decimal_tolerance) {
  const bool approximate = (a.has_decimal && !has_finite_decimal_form(b.value)) ||
                           (b.has_decimal && !has_finite_decimal_form(a.value));
  if (is_rational_number(a.value) && is_rational_number(b.value)) {
    if (GiNaC::ex_to<numeric>(a.value) == GiNaC::ex_to<numeric>(b.value)) return {true, "numeric"};
    if (!approximate) return {false, "different"};
  }
  const auto va = evaluate(a.value, {});
  const auto vb = evaluate(b.value, {});
  if (!va || !vb) return {simplifies_to_zero(a.value - b.value), "symbolic"};
  if (!close(*va, *vb, approximate ? decimal_tolerance : kExactRelativeTolerance)) return {false, "different"};
  if (approximate) return {true, "numeric"};
  return {true, simplifies_to_zero(a.value - b.value) ? "symbolic" : "numeric"};
}

}  // namespace

ValueComparison compare_values(const ParsedExpression& a, const ParsedExpression& b, const SymbolTable& symbols,
                               double decimal_relative_tolerance) {
  DigitsScope digits(kEvaluationDigits);
  if (is_rational_number(a.value) && is_rational_number(b.value)) {
    return compare_constants(a, b, decimal_relative_tolerance);
  }
  if ((a.value - b.value).is_zero()) return {true, "symbolic"};
  const auto variables = free_symbols(a.value, b.value, symbols);
  if (variables.empty()) return compare_constants(a, b, decimal_relative_tolerance);

  const double tolerance = a.has_decimal || b.has_decimal ? decimal_relative_tolerance : kExactRelativeTolerance;
  std::mt19937 rng(20250101);  // fixed: a grade must not depend on the run
  int conclusive = 0;
  for (int i = 0; i < kSamplePoints; ++i) {
    const GiNaC::exmap point = random_point(variables, rng);
    const auto va = evaluate(a.value, point);
    const auto vb = evaluate(b.value, point);
    if (!va || !vb) continue;
    if (!close(*va, *vb, tolerance)) return {false, "different"};
    ++conclusive;
  }
  if (simplifies_to_zero(a.value - b.value)) return {true, "symbolic"};
  if (conclusive >= kRequiredConclusivePoints) return {true, "sampled"};
  return {false, "different"};
}

ValueComparison compare_equations(const ex& difference_a, const ex& difference_b, const SymbolTable& symbols) {
  DigitsScope digits(kEvaluationDigits);
  if (difference_a.is_zero() || difference_b.is_zero()) return {false, "different"};
  const auto variables = free_symbols(difference_a, difference_b, symbols);
  if (variables.empty()) return {false, "different"};
  std::mt19937 rng(20250102);
  std::optional<numeric> first_ratio;
  int conclusive = 0;
  for (int i = 0; i < kSamplePoints; ++i) {
    const GiNaC::exmap point = random_point(variables, rng);
    const auto va = evaluate(difference_a, point);
    const auto vb = evaluate(difference_b, point);
    if (!va || !vb || vb->is_zero()) continue;
    const numeric ratio = *va / *vb;
    if (ratio.is_zero()) return {false, "different"};
    if (!first_ratio) first_ratio = ratio;
    if (!close(ratio, *first_ratio, kExactRelativeTolerance)) return {false, "different"};
    ++conclusive;
  }
  if (conclusive < kRequiredConclusivePoints) return {false, "different"};
  return {true, "sampled"};
}

}  // namespace lil
