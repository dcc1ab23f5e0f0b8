#include "datasets/latex_expression.h"

#include <cctype>
#include <cmath>
#include <set>

namespace lil {
namespace {

using GiNaC::ex;
using GiNaC::numeric;

struct Unparseable {};

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

const std::set<std::string>& function_names() {
  static const std::set<std::string> names = {"sin",    "cos",    "tan",  "cot",  "sec",  "csc", "arcsin",
                                              "arccos", "arctan", "sinh", "cosh", "tanh", "ln",  "log", "exp"};
  return names;
}

const std::set<std::string>& greek_names() {
  static const std::set<std::string> names = {
      "alpha", "beta",  "gamma", "delta", "epsilon", "varepsilon", "zeta",  "eta",   "theta", "vartheta",
      "iota",  "kappa", "lambda", "mu",   "nu",      "xi",         "rho",   "sigma", "tau",   "upsilon",
      "phi",   "varphi", "chi",  "psi",   "omega",   "Gamma",      "Delta", "Theta", "Lambda", "Xi",
      "Sigma", "Phi",   "Psi",   "Omega"};
  return names;
}

class Parser {
 public:
  Parser(const std::string& text, SymbolTable& symbols, const ExpressionLimits& limits)
      : text_(text), symbols_(symbols), limits_(limits) {}

  ParsedExpression parse() {
    ex value = expression();
    skip_spaces();
    if (pos_ != text_.size()) throw Unparseable{};
    return {value, has_decimal_};
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > parser_.limits_.max_depth) throw Unparseable{};
    }
    ~DepthGuard() { --parser_.depth_; }
    Parser& parser_;
  };

  void skip_spaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool at_end() {
    skip_spaces();
    return pos_ >= text_.size();
  }
  char peek() { return at_end() ? '\0' : text_[pos_]; }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) throw Unparseable{};
  }
  // The control word at the cursor ("frac" for "\frac"), without consuming it; empty when none.
  std::string peek_command() {
    if (peek() != '\\') return "";
    size_t end = pos_ + 1;
    while (end < text_.size() && is_letter(text_[end])) ++end;
    return text_.substr(pos_ + 1, end - pos_ - 1);
  }
  bool accept_command(const std::string& name) {
    if (peek_command() != name) return false;
    pos_ += name.size() + 1;
    return true;
  }

  ex expression() {
    DepthGuard guard(*this);
    ex value = term();
    while (true) {
      if (accept('+')) {
        value += term();
      } else if (accept('-')) {
        value -= term();
      } else {
        return value;
      }
    }
  }

  ex term() {
    ex value = signed_factor();
    while (true) {
      if (accept('*') || accept_command("cdot") || accept_command("times")) {
        value *= signed_factor();
      } else if (accept('/') || accept_command("div")) {
        value = divide(value, signed_factor());
      } else if (starts_factor()) {
        value *= power();
      } else {
        return value;
      }
    }
  }

  // What may follow a factor with no operator between them: implicit multiplication ("2x", "3\sqrt{2}").
  bool starts_factor() {
    const char c = peek();
    if (is_digit(c) || is_letter(c) || c == '(' || c == '{') return true;
    if (c == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) return true;
    if (c != '\\') return false;
    const std::string name = peek_command();
    return name == "frac" || name == "sqrt" || name == "pi" || name == "infty" || name == "binom" ||
           name == "lvert" || function_names().count(name) > 0 || greek_names().count(name) > 0;
  }

  ex signed_factor() {
    if (accept('-')) return -signed_factor();
    if (accept('+')) return signed_factor();
    return power();
  }

  ex power() {
    ex base = postfix();
    if (!accept('^')) return base;
    // "2^10" means 2^{10} to anyone typing an answer (sympy's LaTeX parser agrees), unlike "\frac12".
    if (is_digit(peek())) return checked_pow(base, number(/*allow_mixed=*/false));
    return checked_pow(base, script_argument());
  }

  ex postfix() {
    ex value = primary();
    while (accept('!')) value = checked_factorial(value);
    return value;
  }

  // The argument of ^, \frac, \sqrt: a {group}, or one character or command (TeX reads "x^23" as x^2 * 3).
  ex script_argument() {
    skip_spaces();
    if (pos_ >= text_.size()) throw Unparseable{};
    const char c = text_[pos_];
    if (c == '{') return group();
    if (c == '-') {
      ++pos_;
      return -script_argument();
    }
    if (is_digit(c)) {
      ++pos_;
      return numeric(c - '0');
    }
    if (is_letter(c)) {
      ++pos_;
      return letter(c, /*allow_subscript=*/false);
    }
    if (c == '\\') return command();
    throw Unparseable{};
  }

  ex group() {
    expect('{');
    ex value = expression();
    expect('}');
    return value;
  }

  ex primary() {
    DepthGuard guard(*this);
    const char c = peek();
    if (is_digit(c) || c == '.') return number();
    if (is_letter(c)) return letters();
    if (c == '(') {
      ++pos_;
      ex value = expression();
      expect(')');
      return value;
    }
    if (c == '[') {
      ++pos_;
      ex value = expression();
      expect(']');
      return value;
    }
    if (c == '{') return group();
    if (c == '|') {
      ++pos_;
      ex value = expression();
      expect('|');
      return GiNaC::abs(value);
    }
    if (c == '\\') return command();
    throw Unparseable{};
  }

  ex number(bool allow_mixed = true) {
    const size_t begin = pos_;
    std::string digits;
    while (pos_ < text_.size() && is_digit(text_[pos_])) digits += text_[pos_++];
    size_t fraction_digits = 0;
    if (pos_ < text_.size() && text_[pos_] == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
      ++pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_])) {
        digits += text_[pos_++];
        ++fraction_digits;
      }
      has_decimal_ = true;
    }
    if (digits.empty() || digits.size() > 200) throw Unparseable{};
    // "204_5" is a numeral in base 5, compared as written, never as a value.
    if (pos_ < text_.size() && text_[pos_] == '_') throw Unparseable{};
    ex value = numeric(digits.c_str());
    if (fraction_digits > 0) return value / GiNaC::pow(numeric(10), numeric(static_cast<long>(fraction_digits)));
    if (allow_mixed && pos_ - begin == digits.size()) {
      if (auto mixed = mixed_number_fraction()) return value + *mixed;
    }
    return value;
  }

  // "1\frac{4}{5}" is one and four fifths in MATH answers, not 4/5: only for integer literals on both sides.
  std::optional<ex> mixed_number_fraction() {
    const size_t saved = pos_;
    if (pos_ >= text_.size() || text_[pos_] != '\\' || peek_command() != "frac") return std::nullopt;
    pos_ += 5;
    const auto numerator = integer_argument();
    const auto denominator = numerator ? integer_argument() : std::nullopt;
    if (!numerator || !denominator || denominator->is_zero() || *numerator >= *denominator) {
      pos_ = saved;
      return std::nullopt;
    }
    return ex(*numerator / *denominator);
  }

  std::optional<numeric> integer_argument() {
    if (pos_ < text_.size() && is_digit(text_[pos_])) return numeric(text_[pos_++] - '0');
    if (pos_ >= text_.size() || text_[pos_] != '{') return std::nullopt;
    size_t end = pos_ + 1;
    while (end < text_.size() && is_digit(text_[end])) ++end;
    if (end == pos_ + 1 || end >= text_.size() || text_[end] != '}' || end - pos_ > 30) return std::nullopt;
    numeric value(text_.substr(pos_ + 1, end - pos_ - 1).c_str());
    pos_ = end + 1;
    return value;
  }

  // A run of letters: one variable, a product of up to three distinct ones ("xy", "abc"), or a bare
  // function name ("sin x"). Longer runs are words ("even", "east"): comparing them as products of
  // symbols would make anagrams equal, so they are left to the string comparison.
  ex letters() {
    size_t end = pos_;
    while (end < text_.size() && is_letter(text_[end])) ++end;
    const std::string run = text_.substr(pos_, end - pos_);
    if (function_names().count(run) > 0) {
      pos_ = end;
      return function_call(run);
    }
    if (run == "pi") {
      pos_ = end;
      return GiNaC::Pi;
    }
    if (run == "sqrt") {
      pos_ = end;
      return square_root();
    }
    if (run.size() > 3 || std::set<char>(run.begin(), run.end()).size() != run.size()) throw Unparseable{};
    ex value = 1;
    for (size_t i = 0; i < run.size(); ++i) {
      pos_ = pos_ + 1;
      value *= letter(run[i], /*allow_subscript=*/i + 1 == run.size());
    }
    return value;
  }

  // e and i are the constants (as in Math-Verify); anything else is a variable, with its subscript.
  ex letter(char c, bool allow_subscript) {
    std::string name(1, c);
    if (allow_subscript && pos_ < text_.size() && text_[pos_] == '_') {
      ++pos_;
      name += "_" + subscript_text();
    } else if (c == 'e') {
      return GiNaC::exp(ex(1));
    } else if (c == 'i') {
      return GiNaC::I;
    }
    return symbol(name);
  }

  std::string subscript_text() {
    if (pos_ >= text_.size()) throw Unparseable{};
    if (text_[pos_] != '{') {
      if (!std::isalnum(static_cast<unsigned char>(text_[pos_]))) throw Unparseable{};
      return std::string(1, text_[pos_++]);
    }
    const size_t close = text_.find('}', pos_);
    if (close == std::string::npos || close - pos_ > 20) throw Unparseable{};
    std::string inner = text_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    return inner;
  }

  ex symbol(const std::string& name) {
    auto it = symbols_.find(name);
    if (it == symbols_.end()) it = symbols_.emplace(name, GiNaC::symbol(name)).first;
    return it->second;
  }

  ex command() {
    const std::string name = peek_command();
    if (name.empty()) throw Unparseable{};
    pos_ += name.size() + 1;
    if (name == "frac") {
      ex numerator = script_argument();
      ex denominator = script_argument();
      return divide(numerator, denominator);
    }
    if (name == "sqrt") return square_root();
    if (name == "pi") return GiNaC::Pi;
    if (name == "infty") return symbol("\\infty");
    if (name == "binom") {
      ex n = script_argument();
      ex k = script_argument();
      return checked_binomial(n, k);
    }
    if (name == "lvert") {
      ex value = expression();
      if (!accept_command("rvert")) throw Unparseable{};
      return GiNaC::abs(value);
    }
    if (function_names().count(name) > 0) return function_call(name);
    if (greek_names().count(name) > 0) {
      std::string full = "\\" + name;
      if (pos_ < text_.size() && text_[pos_] == '_') {
        ++pos_;
        full += "_" + subscript_text();
      }
      return symbol(full);
    }
    throw Unparseable{};
  }

  ex square_root() {
    std::optional<ex> index;
    if (peek() == '[') {
      ++pos_;
      index = expression();
      expect(']');
    }
    ex radicand = script_argument();
    if (!index) return GiNaC::sqrt(radicand);
    if (index->is_zero()) throw Unparseable{};
    return checked_pow(radicand, divide(ex(1), *index));
  }

  // "\sin^2 x", "\log_2 8", "\sin 2x", "\cos(\theta)"; the argument of an undelimited call runs over the
  // following factors that are digits or letters ("\sin x \cos x" is a product of two calls).
  ex function_call(const std::string& name) {
    std::optional<ex> exponent;
    std::optional<ex> log_base;
    for (int i = 0; i < 2; ++i) {
      if (!exponent && accept('^')) exponent = script_argument();
      if (!log_base && name == "log" && accept('_')) log_base = script_argument();
    }
    ex argument;
    const char c = peek();
    if (c == '(' || c == '{') {
      argument = primary();
    } else {
      argument = power();
      while (is_digit(peek()) || is_letter(peek())) argument *= power();
    }
    const bool inverse = exponent && *exponent == ex(-1);
    ex value = apply_function(name, argument, inverse);
    if (log_base) value = divide(value, GiNaC::log(*log_base));
    if (exponent && !inverse) value = checked_pow(value, *exponent);
    return value;
  }

  ex apply_function(const std::string& name, const ex& x, bool inverse) {
    if (inverse) {
      if (name == "sin") return GiNaC::asin(x);
      if (name == "cos") return GiNaC::acos(x);
      if (name == "tan") return GiNaC::atan(x);
      throw Unparseable{};
    }
    if (name == "sin") return GiNaC::sin(x);
    if (name == "cos") return GiNaC::cos(x);
    if (name == "tan") return GiNaC::tan(x);
    if (name == "cot") return divide(GiNaC::cos(x), GiNaC::sin(x));
    if (name == "sec") return divide(ex(1), GiNaC::cos(x));
    if (name == "csc") return divide(ex(1), GiNaC::sin(x));
    if (name == "arcsin") return GiNaC::asin(x);
    if (name == "arccos") return GiNaC::acos(x);
    if (name == "arctan") return GiNaC::atan(x);
    if (name == "sinh") return GiNaC::sinh(x);
    if (name == "cosh") return GiNaC::cosh(x);
    if (name == "tanh") return GiNaC::tanh(x);
    if (name == "ln" || name == "log") {
      if (x.is_zero()) throw Unparseable{};
      return GiNaC::log(x);
    }
    if (name == "exp") return GiNaC::exp(x);
    throw Unparseable{};
  }

  static ex divide(const ex& numerator, const ex& denominator) {
    if (denominator.is_zero()) throw Unparseable{};
    return numerator / denominator;
  }

  // Decimal digits of an exact number's larger part, from its bit length.
  static double digit_count(const numeric& value) {
    const numeric real = GiNaC::abs(value.real());
    const numeric imag = GiNaC::abs(value.imag());
    double bits = 1;
    for (const numeric& part : {real, imag}) {
      if (!part.is_rational()) return 1e18;
      bits = std::max({bits, static_cast<double>(part.numer().int_length()),
                       static_cast<double>(part.denom().int_length())});
    }
    return bits * 0.30103;
  }

  ex checked_pow(const ex& base, const ex& exponent) {
    if (GiNaC::is_a<numeric>(exponent)) {
      const numeric n = GiNaC::ex_to<numeric>(exponent);
      if (!n.is_rational()) throw Unparseable{};
      const numeric limit(limits_.max_exponent);
      if (GiNaC::abs(n.numer()) > limit || n.denom() > limit) throw Unparseable{};
      if (GiNaC::is_a<numeric>(base)) {
        const numeric b = GiNaC::ex_to<numeric>(base);
        // GiNaC throws for 0^0 (undefined) and 0^-n (a pole) from inside pow(), after allocating the
        // power object, which then leaks: refuse both before GiNaC sees them.
        if (b.is_zero() && !n.is_positive()) throw Unparseable{};
        const double digits = digit_count(b) * std::fabs(n.numer().to_double());
        if (digits > limits_.max_result_digits) throw Unparseable{};
      }
    }
    return GiNaC::pow(base, exponent);
  }

  ex checked_factorial(const ex& value) {
    if (!GiNaC::is_a<numeric>(value)) throw Unparseable{};
    const numeric n = GiNaC::ex_to<numeric>(value);
    if (!n.is_nonneg_integer() || n > numeric(1000)) throw Unparseable{};
    return GiNaC::factorial(value);
  }

  ex checked_binomial(const ex& n, const ex& k) {
    if (!GiNaC::is_a<numeric>(n) || !GiNaC::is_a<numeric>(k)) throw Unparseable{};
    const numeric nn = GiNaC::ex_to<numeric>(n);
    const numeric kk = GiNaC::ex_to<numeric>(k);
    if (!nn.is_nonneg_integer() || !kk.is_integer() || nn > numeric(1000)) throw Unparseable{};
    return GiNaC::binomial(n, k);
  }

  const std::string& text_;
  SymbolTable& symbols_;
  const ExpressionLimits& limits_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool has_decimal_ = false;
};

}  // namespace

std::optional<ParsedExpression> parse_latex_expression(const std::string& latex, SymbolTable& symbols,
                                                       const ExpressionLimits& limits) {
  if (latex.empty() || latex.size() > limits.max_chars) return std::nullopt;
  try {
    return Parser(latex, symbols, limits).parse();
  } catch (const Unparseable&) {
    return std::nullopt;
  } catch (const std::exception&) {
    // GiNaC reports a pole (1/0 after simplification, log(0)) or a domain error by throwing.
    return std::nullopt;
  }
}

std::mutex& ginac_mutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace lil
